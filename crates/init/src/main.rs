fn main() {
    quill_init::main()
}
