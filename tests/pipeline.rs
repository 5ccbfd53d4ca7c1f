//! End-to-end passes of the real binary against a mock POS on 127.0.0.1:0,
//! with real files and a real rsync to a local target.

mod common;

use common::{
    Env, PosImage, count_requests, default_images, image_paths, item, menu_doc, serve_pos, text,
};
use std::os::unix::fs::MetadataExt;
use wiremock::MockServer;

#[tokio::test]
async fn first_pass_publishes_and_rsyncs_an_identical_tree() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());

    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));

    let menu = env.menu();
    assert_eq!(menu["schemaVersion"], 2);
    assert_eq!(item(&menu, "I100")["price"], 4500);
    assert_eq!(item(&menu, "I101")["soldOut"], true);
    assert!(
        !serde_json::to_string(&menu).unwrap().contains("I900"),
        "hidden category left out"
    );
    let images = image_paths(&menu);
    assert_eq!(images.len(), 3);
    for image in &images {
        let file = env.current().join(image.trim_start_matches('/'));
        assert!(file.is_file(), "{image} resolves inside the release");
    }

    // The target got exactly the published tree.
    let published = common::tree(&env.current());
    let pushed = common::tree(&env.path().join("web/gangnam"));
    assert_eq!(published, pushed);

    let status = env.status().await;
    let store = &status[0];
    assert_eq!(store["store"], "gangnam");
    assert_eq!(store["release"].as_str(), env.current_release().as_deref());
    let published_dir = store["published_dir"].as_str().unwrap();
    assert!(
        std::path::Path::new(published_dir)
            .join("data/menu.json")
            .is_file()
    );
    assert!(store["last_success"].is_string());
    assert!(store["last_error"].is_null());
}

/// A target whose `dest` or mode changes in the config (a new web host under
/// the same name) gets the published release at the next pass, though the
/// menu did not change; the old place is left as it was.
#[tokio::test]
async fn a_target_moved_in_the_config_gets_the_release_again() {
    let pos = MockServer::start().await;
    let mut menu = menu_doc(4500);
    menu["updatedAt"] = chrono::Utc::now().to_rfc3339().into();
    serve_pos(&pos, &menu, &default_images()).await;
    let env = Env::new(&pos.uri());
    assert!(env.run(&["once"]).await.status.success());
    let published = common::tree(&env.current());
    assert_eq!(published, common::tree(&env.path().join("web/gangnam")));
    let lag = env.status().await[0]["lag"].clone();

    // A state file from before locations were recorded: the target is taken
    // to be where it was, and nothing is pushed again.
    let state_file = env.store("gangnam").root.join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    let recorded = state["targets"]["web"].as_object_mut().unwrap();
    assert!(recorded.remove("location").is_some(), "{state}");
    std::fs::write(&state_file, serde_json::to_vec(&state).unwrap()).unwrap();
    let output = env.run(&["once"]).await;
    assert!(!text(&output).contains("deployed"), "{}", text(&output));

    let config = std::fs::read_to_string(env.config()).unwrap();
    env.write_config(&config.replace("dest = \"web\"", "dest = \"web2\""));
    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("unchanged"), "{}", text(&output));
    assert!(text(&output).contains("moved"), "{}", text(&output));
    assert_eq!(published, common::tree(&env.path().join("web2/gangnam")));
    assert_eq!(published, common::tree(&env.path().join("web/gangnam")));
    assert_eq!(
        env.status().await[0]["lag"],
        lag,
        "pushing the same release again is no new lag"
    );

    // Now in releases mode at the same dest: pushed again as a release.
    let config = std::fs::read_to_string(env.config()).unwrap();
    env.write_config(&config.replace("dest = \"web2\"", "dest = \"web2\"\nmode = \"releases\""));
    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let mut pushed = common::tree(&env.path().join("web2/gangnam/current"));
    assert!(pushed.remove(".complete").is_some(), "a complete release");
    assert_eq!(published, pushed);
    // And a pass more pushes nothing: the target holds the release where it is.
    let output = env.run(&["once"]).await;
    assert!(!text(&output).contains("deployed"), "{}", text(&output));
}

#[tokio::test]
async fn an_unchanged_pass_fetches_no_image_and_runs_no_rsync() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());
    assert!(env.run(&["once"]).await.status.success());
    let first_release = env.current_release().unwrap();
    let deployed_at = env.status().await[0]["targets"]["web"]["deployed_at"].clone();
    assert!(deployed_at.is_string());

    // Same documents again: still no change, and a quiet pass writes nothing.
    let state_file = env.store_root().join("state.json");
    let state_before = std::fs::metadata(&state_file).unwrap();
    pos.reset().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let output = env.run(&["once"]).await;
    let state_after = std::fs::metadata(&state_file).unwrap();
    assert_eq!(
        (state_before.ino(), state_before.modified().unwrap()),
        (state_after.ino(), state_after.modified().unwrap()),
        "state.json was not rewritten"
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("unchanged"));

    assert_eq!(env.releases(), std::slice::from_ref(&first_release));
    assert_eq!(env.current_release().unwrap(), first_release);
    assert_eq!(count_requests(&pos, "GET").await, 0, "no image request");
    assert_eq!(
        count_requests(&pos, "POST").await,
        2,
        "just the two documents"
    );
    let status = env.status().await;
    assert_eq!(
        status[0]["targets"]["web"]["deployed_at"], deployed_at,
        "no rsync ran"
    );
}

#[tokio::test]
async fn a_changed_price_publishes_a_new_release_reusing_held_images() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());
    assert!(env.run(&["once"]).await.status.success());
    let first = env.current_release().unwrap();
    let first_images = image_paths(&env.menu());

    serve_pos(&pos, &menu_doc(4800), &default_images()).await;
    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));

    let second = env.current_release().unwrap();
    assert_ne!(first, second);
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        log.contains("gangnam: published") && log.contains("1 price change (아메리카노 4500→4800)"),
        "one human change summary line: {log}"
    );
    assert_eq!(env.releases(), [first.clone(), second]);
    assert_eq!(item(&env.menu(), "I100")["price"], 4800);
    assert_eq!(image_paths(&env.menu()), first_images);
    assert_eq!(
        count_requests(&pos, "GET").await,
        0,
        "held images are linked, not fetched"
    );
    assert_eq!(
        item(&common::tree_menu(&env.path().join("web/gangnam")), "I100")["price"],
        4800
    );

    // The old release is still complete for rollback.
    let old = env
        .store_root()
        .join("releases")
        .join(&first)
        .join("data/menu.json");
    let old_menu: serde_json::Value = serde_json::from_slice(&std::fs::read(old).unwrap()).unwrap();
    assert_eq!(item(&old_menu, "I100")["price"], 4500);
}

#[tokio::test]
async fn a_changed_image_gets_a_new_name() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());
    // Photos as the POS sends them: the name's extension is the sniffed format.
    let config = std::fs::read_to_string(env.config()).unwrap();
    env.write_config(&config.replace("[daemon]\n", "[daemon]\nimage_variants = false\n"));
    assert!(env.run(&["once"]).await.status.success());
    let old_image = item(&env.menu(), "I100")["image"]
        .as_str()
        .unwrap()
        .to_string();

    let mut images = default_images();
    images[0] = PosImage::honest("IMG100", common::fixture_image("IMG105.png"));
    serve_pos(&pos, &menu_doc(4500), &images).await;
    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));

    let menu = env.menu();
    let new_image = item(&menu, "I100")["image"].as_str().unwrap().to_string();
    assert_ne!(old_image, new_image);
    assert!(
        new_image.ends_with(".png"),
        "named by its real format: {new_image}"
    );
    assert!(
        env.current()
            .join(new_image.trim_start_matches('/'))
            .is_file()
    );
    assert!(
        env.current()
            .join(old_image.trim_start_matches('/'))
            .exists(),
        "the replaced image is carried forward for pages loaded before the publish"
    );
    assert!(
        !image_paths(&menu).contains(&old_image),
        "but the menu no longer names it"
    );
    assert_eq!(
        count_requests(&pos, "GET").await,
        1,
        "only the changed image is fetched"
    );
}

#[tokio::test]
async fn an_item_with_a_broken_image_is_published_without_it() {
    let pos = MockServer::start().await;
    let mut images = default_images();
    // An HTML error page where a JPEG should be, and a PNG whose bytes do not match the claimed hash.
    images[0] = PosImage {
        id: "IMG100",
        bytes: b"<html><body>502 Bad Gateway</body></html>".to_vec(),
        claimed_sha256: None,
    };
    images[2].claimed_sha256 = Some("0".repeat(64));
    serve_pos(&pos, &menu_doc(4500), &images).await;
    let env = Env::new(&pos.uri());

    let output = env.run(&["once"]).await;
    assert!(
        output.status.success(),
        "a bad image never fails the store: {}",
        text(&output)
    );
    let menu = env.menu();
    assert!(item(&menu, "I100").get("image").is_none());
    assert!(item(&menu, "I102").get("image").is_none());
    assert!(item(&menu, "I101")["image"].is_string());
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(log.contains("image IMG100"), "{log}");
    assert!(log.contains("category=data"), "{log}");
}

#[tokio::test]
async fn a_refused_key_is_an_auth_failure_that_keeps_the_last_good_menu() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());
    assert!(env.run(&["once"]).await.status.success());
    let good = env.current_release().unwrap();

    pos.reset().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(401))
        .mount(&pos)
        .await;
    let output = env.run(&["once"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("failed auth"));
    assert_eq!(env.current_release().unwrap(), good);
    let status = env.status().await;
    assert_eq!(status[0]["last_error"]["category"], "auth");
    assert_eq!(status[0]["consecutive_failures"], 1);
    assert_eq!(status[0]["release"], good.as_str());
}

/// Issue 16: a target's `after_push` (a CDN purge) runs after each successful
/// push with the store, the release and the changed paths, without a shell;
/// when it fails, the target is retried like a failed push.
#[tokio::test]
async fn after_push_runs_with_the_changed_paths_and_a_failure_is_retried() {
    let pos = MockServer::start().await;
    serve_pos(&pos, &menu_doc(4500), &default_images()).await;
    let env = Env::new(&pos.uri());
    let calls = env.path().join("purged.txt");
    let script = env.path().join("purge.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ -e {fail} ] && {{ echo 'CDN said 503' >&2; exit 7; }}\necho \"$*\" >> {calls}\n",
            fail = env.path().join("fail").display(),
            calls = calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = std::fs::read_to_string(env.config()).unwrap().replace(
        "dest = \"web\"",
        &format!(
            "dest = \"web\"\nafter_push = [\"{}\", \"--zone\", \"menu; rm -rf /\"]\nretry_backoff_secs = 1",
            script.display()
        ),
    );
    env.write_config(&config);

    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let release = env.current_release().unwrap();
    let line = std::fs::read_to_string(&calls).unwrap();
    let mut words = line.split_whitespace();
    // The fixed arguments arrive as given, one word each: no shell read them.
    assert_eq!(words.next(), Some("--zone"));
    assert!(line.starts_with("--zone menu; rm -rf / gangnam "), "{line}");
    assert!(
        line.contains(&format!(
            "gangnam {release} gangnam/data/menu.json gangnam/images/"
        )),
        "{line}"
    );
    // Three new photos, each as one width in WebP and JPEG (image_variants).
    assert_eq!(
        line.matches("gangnam/images/").count(),
        6,
        "the three new photos: {line}"
    );

    // A failing purge fails the target (deploy), and the next pass retries it.
    std::fs::write(env.path().join("fail"), b"").unwrap();
    serve_pos(&pos, &menu_doc(4600), &default_images()).await;
    let output = env.run(&["once"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("CDN said 503"), "{}", text(&output));
    let status = env.status().await;
    assert!(
        status[0]["targets"]["web"]["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("exit code 7")
    );
    std::fs::remove_file(env.path().join("fail")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let lines = std::fs::read_to_string(&calls).unwrap();
    let last = lines.lines().last().unwrap();
    assert!(last.contains(&env.current_release().unwrap()), "{lines}");
    assert!(
        last.ends_with("gangnam/data/menu.json"),
        "only the menu changed: {last}"
    );
}
