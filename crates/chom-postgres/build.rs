//! Build script: rebuild when a migration changes (`sqlx::migrate!` embeds them at compile
//! time). `src/shared/` is compiled a second time by `chom-sqlite/build.rs` (ADR 0006).

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/postgres");
}
