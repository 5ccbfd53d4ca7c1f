//! Files more than one task writes, under many concurrent passes: the
//! preview index every pass rewrites must stay whole, with no warning.
//!
//! Regression (issue 23): concurrent passes of one process shared one temp
//! file for the preview index (`.<pid>.tmp`), so a pass renamed away
//! another's temp file: "preview pages not written: … index.html: No such
//! file or directory", and a reader could see a half-written index.

mod common;

use common::{Env, text};

#[test]
fn concurrent_passes_leave_a_whole_preview_index_and_no_warning() {
    const STORES: usize = 40;
    let env = Env::new("http://127.0.0.1:9");
    common::fixture_pos::write_store(&env.path().join("pos"), 4, 1000, &|i| format!("a{i}"));
    let stores: String = (0..STORES)
        .map(|i| {
            format!(
                "[[store]]\nid = \"store{i:02}\"\nname = \"매장 {i:02}\"\npos = \"demo\"\npos_store_id = \"S001\"\n"
            )
        })
        .collect();
    let config = |price_percent: u32| {
        format!(
            "[daemon]\nstate_dir = \"state\"\nio_concurrency = {STORES}\nhold_price_change_percent = {price_percent}\n\
             [pos.demo]\nkind = \"fixture\"\npath = \"pos\"\n{stores}"
        )
    };
    env.write_config(&config(0));
    let index = env.path().join("state/preview/index.html");
    for round in 0..4 {
        // Every round publishes (or, with the gate on, holds) every store at once.
        common::fixture_pos::write_store(&env.path().join("pos"), 4, 1000 + round * 500, &|i| {
            format!("r{round}-{i}")
        });
        env.write_config(&config(if round % 2 == 1 { 10 } else { 0 }));
        let output = env.run_blocking(&["once"]);
        assert!(output.status.success(), "{}", text(&output));
        let log = String::from_utf8_lossy(&output.stdout);
        // A held change is the one warning a pass gives on purpose.
        let warnings: Vec<&str> = log
            .lines()
            .filter(|line| line.contains(" WARN ") && !line.contains("for approval"))
            .collect();
        assert!(warnings.is_empty(), "round {round}: {warnings:#?}");
        let page = std::fs::read_to_string(&index).unwrap();
        assert!(
            page.trim_end().ends_with("</html>"),
            "round {round}: a whole page"
        );
        for i in 0..STORES {
            assert!(
                page.contains(&format!("store{i:02}/index.html")),
                "round {round}: store{i:02}"
            );
        }
        let temp: Vec<_> = std::fs::read_dir(index.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.contains(".tmp"))
            .collect();
        assert!(temp.is_empty(), "round {round}: temp files left {temp:?}");
    }
}
