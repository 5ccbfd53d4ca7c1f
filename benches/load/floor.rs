//! The plain-client floor: the daemon's requests with its concurrency and
//! no processing, so a scenario's ratio shows what menusync itself costs.

use super::*;

/// What the floor client does with image bodies.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Images {
    /// S2: no image requests at all.
    Skip,
    /// The floor: fetch and drop.
    Discard,
    /// The disk floor: each body written to its own file and fsynced, as any
    /// durable copy must; the daemon cannot beat the disk it writes to.
    Durable,
}

/// The floor: the same requests with the same concurrency, no processing.
pub(crate) async fn floor_pass(pos: &Pos, u: &Universe, images: Images) -> f64 {
    let sink = tempfile::tempdir_in(u.dir.path())
        .expect("floor dir")
        .keep();
    let files = AtomicU64::new(0);
    let client = reqwest::Client::new();
    let io = Arc::new(tokio::sync::Semaphore::new(u.concurrency));
    let bytes = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let get = |method: reqwest::Method, url: String, body: Option<String>| {
        let (client, io, bytes) = (client.clone(), Arc::clone(&io), Arc::clone(&bytes));
        async move {
            let _permit = io.acquire_owned().await.expect("open");
            let mut request = client
                .request(method, url)
                .header("X-POS-API-KEY", "bench-key");
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body);
            }
            let data = request
                .send()
                .await
                .expect("floor request")
                .bytes()
                .await
                .expect("floor body");
            bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
            data
        }
    };
    futures_util::stream::iter(u.pos_ids.iter().map(|id| {
        let base = pos.base.clone();
        let (get, sink, files) = (&get, &sink, &files);
        async move {
            let body = format!("{{\"storeId\":\"{id}\"}}");
            let post = reqwest::Method::POST;
            let (_, list) = futures_util::join!(
                get(post.clone(), format!("{base}api/menu"), Some(body.clone())),
                get(post, format!("{base}api/images"), Some(body)),
            );
            if images != Images::Skip {
                let list: serde_json::Value = serde_json::from_slice(&list).expect("images JSON");
                let urls: Vec<String> = list["images"]
                    .as_array()
                    .expect("images")
                    .iter()
                    .map(|x| format!("{base}{}", x["url"].as_str().expect("url")))
                    .collect();
                futures_util::stream::iter(urls.into_iter().map(|url| async {
                    let body = get(reqwest::Method::GET, url, None).await;
                    if images == Images::Durable {
                        let path = sink.join(files.fetch_add(1, Ordering::Relaxed).to_string());
                        tokio::task::spawn_blocking(move || {
                            use std::io::Write as _;
                            let mut file = std::fs::File::create(path)?;
                            file.write_all(&body)?;
                            file.sync_all()
                        })
                        .await
                        .expect("join")
                        .expect("floor write");
                    }
                }))
                .buffer_unordered(u.concurrency)
                .for_each(|_| async {})
                .await;
            }
        }
    }))
    .buffer_unordered(u.concurrency)
    .for_each(|_| async {})
    .await;
    started.elapsed().as_secs_f64()
}
