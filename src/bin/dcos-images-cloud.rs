//! The commands that drive packer, terraform, ssh, git, EC2 and GitHub;
//! `dcos-images` hands them over to this binary (see `cli::CLOUD_BINARY`).

// mimalloc: see Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dcos_images::cli::main_cloud()
}
