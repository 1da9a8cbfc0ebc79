//! The fake exchange of `bench/gateway`: the tests' own fake Binance
//! (`tests/common/fake_exchange`, which checks every signature with the real
//! secret as Binance does), with one account and request recording off, on a
//! free loopback port. It prints its base URL and serves until killed.
//!
//! ```sh
//! cargo run --release --example bench_exchange -- API_KEY SECRET
//! ```

// The very module the tests use, so the bench measures against the same
// protocol (both files allow their own unused parts).
#[path = "../tests/common/side_server.rs"]
mod side_server;

#[path = "../tests/common/fake_exchange/mod.rs"]
mod fake_exchange;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(api_key), Some(secret)) = (args.next(), args.next()) else {
        eprintln!("usage: bench_exchange API_KEY SECRET");
        std::process::exit(2);
    };
    let exchange = fake_exchange::FakeExchange::start();
    exchange.add_account(&api_key, &secret, fake_exchange::Restrictions::read_and_trade());
    // A bench sends hundreds of thousands of requests: keep none of them.
    exchange.set_recording(false);
    println!("bench_exchange listening on {}", exchange.base_url());
    loop {
        std::thread::park();
    }
}
