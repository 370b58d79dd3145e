//! `quill-admin` as a program of its own (hosts, tests); its code is in
//! adminlock::cli, which the device's one binary (crates/quill) runs too.

fn main() {
    adminlock::cli::main()
}
