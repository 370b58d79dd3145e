fn main() -> std::process::ExitCode {
    discovery::cli::main()
}
