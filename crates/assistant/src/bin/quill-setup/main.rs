//! `quill-setup` as a program of its own (hosts, tests); its code is in
//! assistant::cli, which the device's one binary (crates/quill) runs too.

fn main() {
    assistant::cli::main()
}
