// mimalloc: see src/allocator.rs and Cargo.toml.
#[global_allocator]
static ALLOCATOR: dcos_images::allocator::MiMalloc = dcos_images::allocator::MiMalloc;

fn main() -> std::process::ExitCode {
    dcos_images::cli::main()
}
