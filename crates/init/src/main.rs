//! `init` as a program of its own (hosts, tests); its code is in
//! the library, which the device's one binary (crates/quill) runs too.

fn main() {
    quill_init::main()
}
