//! The commands that drive packer, terraform, ssh, git, EC2 and GitHub;
//! `dcos-images` hands them over to this binary (see `cli::CLOUD_BINARY`).

// mimalloc: see src/allocator.rs and Cargo.toml.
#[global_allocator]
static ALLOCATOR: dcos_images::allocator::MiMalloc = dcos_images::allocator::MiMalloc;

fn main() -> std::process::ExitCode {
    dcos_images::cli::main_cloud()
}
