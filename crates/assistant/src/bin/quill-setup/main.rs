fn main() {
    assistant::cli::main()
}
