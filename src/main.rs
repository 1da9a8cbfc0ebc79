#[actix_web::main]
async fn main() -> std::process::ExitCode {
    match tradebot::cli::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tradebot: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
