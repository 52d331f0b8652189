//! `amishare`: copy KMS-encrypted AMIs across AWS accounts and prove the copy launches.

fn main() -> std::process::ExitCode {
    amishare::cli::main()
}
