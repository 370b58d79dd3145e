//! `quill-enroll` as a program of its own (hosts, tests); its code is in
//! enroll::cli, which the device's one binary (crates/quill) runs too.

fn main() -> std::process::ExitCode {
    enroll::cli::main()
}
