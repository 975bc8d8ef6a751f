//! Builds the heap interposer (crate `memwarden-heap`, a shared object) so the binary can
//! carry it: `memwarden run --heap` writes it to a private directory and preloads it, and
//! `cargo install` needs nothing else copied.
//!
//! It is a separate `cargo build` of that crate (in a target directory of its own under
//! OUT_DIR, sharing the outer build's job slots): cargo cannot yet depend on a cdylib as an
//! artifact on stable. Built stripped, at `opt-level = 3`, with `panic = "abort"`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let crate_dir = manifest_dir.join("../memwarden-heap");
    for p in ["src", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", crate_dir.join(p).display());
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let target_dir = out.join("heap-build");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--lib", "--quiet", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .args([
            // Its `malloc` is on every allocation of the watched program: speed, not size.
            "--config",
            "profile.release.opt-level=3",
            "--config",
            "profile.release.debug=0",
            "--config",
            "profile.release.strip=true",
            "--config",
            "profile.release.panic=\"abort\"",
        ])
        // The outer build's flags (coverage, sanitizers) are not the interposer's business.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .status()
        .expect("cannot run cargo to build the heap interposer");
    assert!(
        status.success(),
        "building the heap interposer (crates/memwarden-heap) failed"
    );
    let built = target_dir.join("release/libmemwarden_heap.so");
    let embedded = out.join("libmemwarden_heap.so");
    std::fs::copy(&built, &embedded).expect("the heap interposer was built");
}
