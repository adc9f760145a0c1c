//! The real binaries on PostgreSQL: `chom-api` and a separate `chom-worker`, the loopback sshd
//! and the agent in a sandbox. First the whole life of a WordPress site (register → approve →
//! plan → server → create → SSE → credentials → disable → enable → PHP → suspension → delete →
//! nothing left). Then the worker is killed (SIGKILL) in the middle of a provisioning; a new
//! worker takes the job over once its lease expires and the site converges to `active` with one
//! database, one database user and credentials that log in.

use crate::deployment::Deployment;
use chom_e2e::{Process, wait_for};
use chom_test_support::api::body;
use chom_test_support::hosting::{act, create_site, finished, life_of_a_wordpress_site, mariadb};
use serde_json::json;
use std::process::Command;
use std::time::Duration;

/// The worker's `GET /metrics`, at the address its start-up log line names.
async fn worker_metrics(client: &reqwest::Client, worker: &Process) -> String {
    let log = worker.log();
    let url = log
        .lines()
        .rev()
        .filter(|l| l.contains("worker metrics served"))
        .find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            v["metrics"].as_str().map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("the worker did not log its metrics address:\n{log}"));
    let answer = client.get(&url).send().await.unwrap();
    assert_eq!(answer.status(), 200, "{url}");
    answer.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binaries_run_a_site_and_survive_a_killed_worker() {
    let mut d = Deployment::start().await;
    let (app, pg) = (&d.app, &d.pg);
    let dump = async || pg.dump().await.unwrap();
    let owner = life_of_a_wordpress_site(app, dump, &d.admin, &d.owner, &d.rig.sandbox).await;

    let domain = format!("kill{}.example.com", uuid::Uuid::new_v4().simple());
    let (site, op, _) = create_site(
        app,
        &owner,
        json!({"domain": domain, "site_type": "laravel"}),
    )
    .await;

    // Wait until site.create runs on the server, then kill the worker in the middle of it.
    let operation = format!("/api/v1/operations/{op}");
    wait_for(
        "site.create running",
        Duration::from_secs(15),
        &mut [&mut d.worker],
        async || {
            body(app.get_as(&owner, &operation).await).await["data"]["steps"][0]["status"]
                == "running"
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    d.worker.kill();
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "creating", "{shown}");

    // A new worker takes over after the lease expires; the site converges.
    let worker = d.start_worker();
    let done = finished(app, &owner, &op).await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", worker.report());
    let shown = body(app.get_as(&owner, &format!("/api/v1/sites/{site}")).await).await;
    assert_eq!(shown["data"]["status"], "active", "{shown}");
    // The separate worker serves its own job metrics: the provisioning it took over is there.
    let scrape = worker_metrics(&d.http, &worker).await;
    assert!(
        scrape
            .contains(r#"chom_jobs_total{kind="site_hosting::run_operation",outcome="succeeded"}"#),
        "{scrape}"
    );
    assert_eq!(
        pg.count(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'site_hosting::run_operation' AND attempt >= 2 AND state = 'done'"
        )
        .await
        .unwrap(),
        1,
        "the provisioning was not taken over by a second attempt"
    );
    let db_name = shown["data"]["db_name"].as_str().unwrap().to_owned();
    let creds = body(
        app.get_as(
            &owner,
            &format!("/api/v1/sites/{site}/database/credentials"),
        )
        .await,
    )
    .await;
    let (user, password) = (
        creds["data"]["user"].as_str().unwrap(),
        creds["data"]["password"].as_str().unwrap(),
    );
    // One database and one user for the site, and the stored password is the live one.
    let prefix = db_name.rsplit_once('_').unwrap().1;
    assert_eq!(
        mariadb(&format!(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE '%{prefix}'"
        )),
        "1"
    );
    assert_eq!(
        mariadb(&format!(
            "SELECT COUNT(*) FROM mysql.user WHERE user LIKE '%{prefix}'"
        )),
        "1"
    );
    let logged_in = Command::new("mariadb")
        .args([
            &format!("--user={user}"),
            &format!("--password={password}"),
            &db_name,
            "-e",
            "SELECT 1",
        ])
        .output()
        .unwrap();
    assert!(
        logged_in.status.success(),
        "{}",
        String::from_utf8_lossy(&logged_in.stderr)
    );
    let env = std::fs::read_to_string(
        d.rig
            .sandbox
            .join("var/www/sites")
            .join(&domain)
            .join(".env"),
    )
    .unwrap();
    assert!(
        env.contains(&format!("DB_PASSWORD={password}\n")),
        "the app config has another password"
    );
    let registry: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.rig.sandbox.join("var/lib/chom-agent/sites.json")).unwrap(),
    )
    .unwrap();
    let sites = registry["sites"].as_object().unwrap();
    assert!(
        sites.len() == 1 && sites.contains_key(&domain),
        "{registry}"
    );
    // Tidy the shared MariaDB.
    act(
        app,
        &owner,
        reqwest::Method::DELETE,
        &format!("/api/v1/sites/{site}"),
        None,
    )
    .await;
}
