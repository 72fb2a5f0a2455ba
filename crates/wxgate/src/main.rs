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
    // Transparent huge pages make the kernel zero 2 MiB at the first touch of memory, which
    // stalls whichever request touched it for a fraction of a millisecond: as memory of
    // recent pushes grows, those stalls were the p99 (docs/design-notes.md, "Performance").
    // 4 KiB pages spread that cost thinly. (Redis gives the same advice for the same reason.)
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    wxgate::cli::main()
}
