// mimalloc: see Cargo.toml; measured in README.md's speed section.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dcos_images::cli::main()
}
