//! `quill-net` as a program of its own (hosts, tests); its code is in
//! net::cli, which the device's one binary (crates/quill) runs too.

fn main() {
    net::cli::main()
}
