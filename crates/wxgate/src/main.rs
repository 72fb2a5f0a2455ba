/// glibc's malloc fragments under the maps of recent pushes until it dominates the CPU;
/// mimalloc doubled push throughput in bench/ (docs/design-notes.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // `wxgate menu get | head` should end quietly, as other command-line tools do, not panic
    // on a closed stdout: restore the default SIGPIPE that Rust's runtime ignores.
    #[cfg(unix)]
    // SAFETY: called first thing, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    wxgate::cli::main()
}
