//! The dependency rule of ARCHITECTURE.md, held by the code: each lower
//! module names only the modules below it (`crate::NAME` anywhere in its
//! files), so imports run one way and only the orchestration modules
//! (`pipeline`, `operations`, `commands`, `daemon`) compose stages.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Module → the crate modules it may name.
const RULES: &[(&str, &[&str])] = &[
    ("atomic", &[]),
    ("config", &[]),
    ("error", &[]),
    ("menu", &[]),
    ("image_sink", &["error"]),
    ("lock", &["error"]),
    ("state", &["atomic", "error"]),
    ("publish", &["atomic", "error"]),
    ("diff", &["menu"]),
    ("detect", &["config", "menu"]),
    ("pos", &["config", "error", "image_sink", "menu"]),
    ("transform", &["config", "error", "menu", "pos"]),
    ("target", &["config", "error", "publish"]),
    ("images", &["error", "image_sink", "pos", "publish"]),
    ("gates", &["config", "diff", "menu"]),
    ("preview", &["atomic", "diff", "error", "menu"]),
];

/// `src/NAME.rs` and every file under `src/NAME/`.
fn files_of(module: &str) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.join(format!("{module}.rs"))];
    let mut stack = vec![src.join(module)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.retain(|path| path.exists());
    files
}

fn named_modules(text: &str) -> BTreeSet<String> {
    text.match_indices("crate::")
        .map(|(at, _)| {
            text[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn lower_modules_name_only_the_modules_below_them() {
    let mut broken = Vec::new();
    for (module, allowed) in RULES {
        let files = files_of(module);
        assert!(!files.is_empty(), "no files for module `{module}`");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for named in named_modules(&text) {
                if named != *module && !allowed.contains(&named.as_str()) {
                    broken.push(format!("{} names crate::{named}", file.display()));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports that run the wrong way:\n{}",
        broken.join("\n")
    );
}
