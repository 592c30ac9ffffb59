//! Generate + serialize throughput on one core (the generator's goal: >= 1,000,000 bid
//! requests/s). Run: `cargo bench -p bidlake-gen --bench generate`.

use bidlake_gen::{Event, FunnelRates, Generator, Micros};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const BATCH: u64 = 10_000;
const START: Micros = 1_795_508_212_695_802;

fn bid_requests(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Elements(BATCH));

    group.bench_function("bid_requests", |b| {
        let mut generator = Generator::new(7, None);
        let mut event = Event::default();
        let mut now = START;
        b.iter(|| {
            let mut bytes = 0;
            for _ in 0..BATCH {
                now += 10;
                generator.next_request(now, &mut event);
                bytes += event.value.len();
            }
            bytes
        });
    });

    // Requests plus their funnel: each request also yields ~0.6 responses, ~0.09 impressions.
    group.bench_function("bid_requests_with_funnel", |b| {
        let mut generator = Generator::new(7, Some(FunnelRates::default()));
        let mut event = Event::default();
        let mut now = START;
        b.iter(|| {
            let mut bytes = 0;
            for _ in 0..BATCH {
                now += 10;
                generator.next_request(now, &mut event);
                bytes += event.value.len();
                while generator.next_due(now, &mut event) {
                    bytes += event.value.len();
                }
            }
            bytes
        });
    });
    group.finish();
}

criterion_group!(benches, bid_requests);
criterion_main!(benches);
