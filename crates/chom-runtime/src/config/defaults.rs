//! The built-in defaults: the embedded set-up (SQLite under `var/`, in-process worker).

use super::*;

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings {
                host: "127.0.0.1".into(),
                port: 8080,
                workers: 0,
                max_body_bytes: 256 * 1024,
                body_timeout_ms: 10_000,
                trusted_proxies: Vec::new(),
                forwarded_header: "x-forwarded-for".into(),
            },
            database: DatabaseSettings {
                url: None,
                sqlite_path: PathBuf::from("var/chom.db"),
                max_connections: 10,
                acquire_timeout_ms: 1000,
            },
            redis: RedisSettings {
                url: None,
                key_prefix: "chom:".into(),
            },
            worker: WorkerSettings {
                embedded: EmbeddedWorker::Auto,
                concurrency: 16,
                lease_secs: 60,
                shutdown_grace_secs: 20,
                metrics_listen: "127.0.0.1:9465".into(),
                schedule: true,
            },
            log: LogSettings {
                format: LogFormat::Json,
                filter: "info".into(),
            },
            security: SecuritySettings {
                encryption_key: None,
                previous_encryption_keys: Vec::new(),
                auth_requests_per_minute: 5,
                password_attempts_per_15_min: 10,
                session_cache_ms: 1000,
                api_requests_per_minute: 120,
                sensitive_operations_per_minute: 10,
                require_admin_two_factor: false,
                hash_slots: None,
            },
            mail: MailSettings {
                smtp_url: None,
                from: "CHOM <noreply@chom.localhost>".into(),
                public_url: None,
                log_only: false,
                outbox_dir: None,
            },
            ssh: GatewaySettings {
                key_file: PathBuf::from("var/ssh/id_ed25519"),
                state_dir: PathBuf::from("var/ssh"),
                agent_path: "/usr/local/bin/chom-agent".into(),
                agent_args: Vec::new(),
                sudo: true,
                connect_timeout_secs: 10,
                command_timeout_secs: 120,
                backup_timeout_secs: 21_600,
                agent_binary: None,
            },
            sites: SitesSettings {
                acme_email: "hostmaster@chom.localhost".into(),
                acme_directory: None,
                renew_within_days: 30,
            },
            backup: BackupSettings {
                listen: "127.0.0.1:0".into(),
                public_url: String::new(),
                repository_root: "var/repositories".into(),
                max_file_mb: 512,
                max_per_server: 2,
                storage: RepositoryStorage::Disk,
                s3: BackupS3Settings {
                    endpoint: String::new(),
                    bucket: String::new(),
                    region: "us-east-1".into(),
                    access_key: String::new(),
                    secret_key: None,
                    prefix: "chom/".into(),
                    path_style: false,
                },
                verify_database: None,
            },
        }
    }
}
