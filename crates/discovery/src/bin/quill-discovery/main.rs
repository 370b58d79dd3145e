//! `quill-discovery` as a program of its own (hosts, tests); its code is in
//! discovery::cli, which the device's one binary (crates/quill) runs too.

fn main() -> std::process::ExitCode {
    discovery::cli::main()
}
