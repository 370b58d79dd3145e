fn main() -> std::process::ExitCode {
    enroll::cli::main()
}
