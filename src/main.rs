fn main() -> std::process::ExitCode {
    dcos_images::cli::main()
}
