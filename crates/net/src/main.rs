fn main() {
    net::cli::main()
}
