//! Tests of the service: what a tenant is told about a failed step (here), and the use cases
//! over the in-memory fakes of `crate::testing` (`request`, `run`).

mod request;
mod run;

use super::public_reason;
use chom_infrastructure::{FleetError, GatewayError};

#[test]
fn l7_tenants_see_stable_codes_never_transport_or_tool_text() {
    let secret = "chom@10.0.0.7:22 /etc/nginx/sites-enabled/other-tenant.example.com";
    let cases = [
        FleetError::Gateway(GatewayError::Unreachable(secret.into())),
        FleetError::Gateway(GatewayError::BadAnswer(secret.into())),
        FleetError::Gateway(GatewayError::HostKeyMismatch(secret.into())),
        FleetError::Agent(format!("COMMAND_FAILED: nginx -t: {secret}")),
        FleetError::Busy(secret.into()),
    ];
    for e in &cases {
        let shown = public_reason(e);
        assert!(
            !shown.contains("10.0.0.7") && !shown.contains("other-tenant"),
            "{shown}"
        );
        let code = shown.split(':').next().unwrap_or_default();
        assert!(code.starts_with("SERVER_"), "{shown}");
    }
    assert!(public_reason(&cases[3]).starts_with("SERVER_REFUSED (COMMAND_FAILED)"));
    // A message that does not start with a plain code names nothing either.
    let odd = public_reason(&FleetError::Agent(format!("{secret}: boom")));
    assert!(odd.starts_with("SERVER_REFUSED (Unknown)"), "{odd}");
}
