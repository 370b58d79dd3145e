fn main() {
    adminlock::cli::main()
}
