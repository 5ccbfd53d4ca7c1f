//! Builds the .deb from the binary this test run was built with, as
//! `cargo deb` does for a release, so the package and field tests check
//! exactly what `cargo test` compiled, and a new user needs no step before.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `cargo deb --no-build` of the `menusync` binary cargo built for these
/// tests, into `out_dir`; returns the package's path. Panics with what to
/// install when cargo-deb is missing (tests/setup.sh installs it).
pub fn build_deb(out_dir: &Path) -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_menusync"));
    // <target>/<debug|release>/menusync: cargo-deb's --profile names the folder.
    let profile = match binary.parent().and_then(Path::file_name) {
        Some(name) if name == "debug" => "dev",
        Some(name) => name.to_str().expect("the profile folder is UTF-8"),
        None => panic!("unexpected binary path {}", binary.display()),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(&cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "deb",
            "--locked",
            "--no-build",
            "--fast",
            "--profile",
            profile,
        ])
        .arg("--output")
        .arg(out_dir)
        .output()
        .unwrap_or_else(|err| panic!("{cargo} deb: {err}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "`cargo deb` failed (tests/setup.sh installs cargo-deb):\n{stderr}"
    );
    let path = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .map(|line| PathBuf::from(line.trim()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .unwrap_or_else(|| panic!("cargo deb printed no .deb path:\n{stderr}"));
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

/// Panics unless `[package.metadata.deb] assets` in Cargo.toml installs the
/// repository's file `source` at `installed` (a path without its leading `/`).
pub fn assert_deb_installs(source: &str, installed: &str) {
    let text = std::fs::read_to_string(super::repo().join("Cargo.toml")).expect("Cargo.toml");
    let cargo: toml::Value = toml::from_str(&text).expect("Cargo.toml is TOML");
    let assets = cargo["package"]["metadata"]["deb"]["assets"]
        .as_array()
        .expect("[package.metadata.deb] assets");
    assert!(
        assets
            .iter()
            .any(|asset| asset[0].as_str() == Some(source) && asset[1].as_str() == Some(installed)),
        "the .deb must install {source} as /{installed}"
    );
}
