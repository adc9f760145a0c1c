//! Black-box tests of the API: the real app on a free port, on both storage backends.

mod binary;
mod docs;
mod errors;
mod health;
mod helpers;
mod metrics;
mod plans;
