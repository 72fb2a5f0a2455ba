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
