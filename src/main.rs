fn main() -> std::process::ExitCode {
    emocam::cli::main()
}
