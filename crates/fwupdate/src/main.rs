fn main() {
    fwupdate::main()
}
