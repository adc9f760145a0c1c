//! The nginx vhost and PHP-FPM pool of a site, with the hardening of the original templates
//! (and what its SSL rewrite dropped kept in).

use chom_agent_protocol::{Domain, PhpVersion, SiteNames};
use std::path::Path;

/// Certificate files of a site served over HTTPS.
pub struct Tls<'a> {
    /// `fullchain.pem`.
    pub certificate: &'a Path,
    /// `privkey.pem`.
    pub key: &'a Path,
}

/// Where a site's vhost points besides its own tree: directories only root can write.
pub struct VhostPaths<'a> {
    /// The site's directory (`/var/www/sites/<domain>`).
    pub site_dir: &'a Path,
    /// The PHP-FPM socket.
    pub socket: &'a Path,
    /// nginx's logs of the site (`/var/log/chom-sites/<domain>`): nginx's master process opens
    /// them as root, so they never live in the tenant's tree.
    pub log_dir: &'a Path,
    /// The ACME HTTP-01 webroot certbot writes challenges to (as root, so never the site's
    /// own `public/`).
    pub acme_root: &'a Path,
}

/// The site's directives (shared by the HTTP-only and the HTTPS server blocks).
fn site_body(root: &str, sock: &str, logs: &str, acme: &str) -> String {
    format!(
        r#"    root {root}/public;
    index index.php index.html;

    access_log {logs}/access.log;
    error_log {logs}/error.log;

    disable_symlinks on from=$document_root;
    client_max_body_size 64M;
    server_tokens off;

    add_header X-Frame-Options "SAMEORIGIN" always;
    add_header X-Content-Type-Options "nosniff" always;
    add_header Referrer-Policy "strict-origin-when-cross-origin" always;

    gzip on;
    gzip_types text/plain text/css application/json application/javascript text/xml application/xml image/svg+xml;

    location ^~ /.well-known/acme-challenge/ {{
        root {acme};
        default_type text/plain;
    }}

    location ~ /\.(?!well-known) {{
        deny all;
    }}

    location ~* \.(env|log|sql|bak|old|orig|dist|swp)$ {{
        deny all;
    }}

    location / {{
        try_files $uri $uri/ /index.php?$query_string;
    }}

    location ~ \.php$ {{
        try_files $uri =404;
        fastcgi_split_path_info ^(.+\.php)(/.+)$;
        fastcgi_pass unix:{sock};
        fastcgi_index index.php;
        include /etc/nginx/fastcgi_params;
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        fastcgi_param PHP_VALUE "open_basedir={root}:/usr/share/php";
        fastcgi_connect_timeout 60s;
        fastcgi_send_timeout 300s;
        fastcgi_read_timeout 300s;
        fastcgi_buffers 16 16k;
        fastcgi_buffer_size 32k;
    }}

    location ~* \.(jpg|jpeg|png|gif|ico|css|js|svg|woff2?|ttf|webp)$ {{
        expires 30d;
        access_log off;
    }}
"#
    )
}

/// The nginx server blocks: HTTP only, or with `tls` an HTTPS server (TLS 1.2/1.3, HSTS, the
/// same hardening) and an HTTP server that answers ACME challenges and redirects the rest.
pub fn vhost(domain: &Domain, paths: &VhostPaths<'_>, tls: Option<&Tls<'_>>) -> String {
    let names = crate::layout::server_names(domain).join(" ");
    let root = paths.site_dir.display().to_string();
    let acme = paths.acme_root.display().to_string();
    let body = site_body(
        &root,
        &paths.socket.display().to_string(),
        &paths.log_dir.display().to_string(),
        &acme,
    );
    match tls {
        None => format!(
            "# Managed by chom-agent: changes are overwritten.\nserver {{\n    listen 80;\n    listen [::]:80;\n    server_name {names};\n{body}}}\n"
        ),
        Some(t) => format!(
            r#"# Managed by chom-agent: changes are overwritten.
server {{
    listen 80;
    listen [::]:80;
    server_name {names};
    server_tokens off;

    location ^~ /.well-known/acme-challenge/ {{
        root {acme};
        default_type text/plain;
    }}

    location / {{
        return 301 https://$host$request_uri;
    }}
}}

server {{
    # `listen … http2` (not `http2 on;`): Debian bookworm ships nginx 1.22.
    listen 443 ssl http2;
    listen [::]:443 ssl http2;
    server_name {names};

    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_prefer_server_ciphers off;
    ssl_session_cache shared:chom_ssl:10m;
    ssl_session_timeout 1d;
    ssl_session_tickets off;
    add_header Strict-Transport-Security "max-age=63072000" always;
{body}}}
"#,
            cert = t.certificate.display(),
            key = t.key.display(),
        ),
    }
}

/// Functions a site's PHP may not call: running programs (`exec` and friends, `mail` runs the
/// sendmail binary with arguments the caller shapes, `putenv` feeds `LD_PRELOAD` to whatever
/// runs next), and making links (`symlink`, `link`: the agent and the daemons run as root next
/// to the site's tree; they no longer follow its links, and the site cannot make new ones from
/// PHP either). There is no per-site opt-out in the protocol yet (see the agent's README).
pub const DISABLED_FUNCTIONS: &[&str] = &[
    "exec",
    "passthru",
    "shell_exec",
    "system",
    "proc_open",
    "popen",
    "pcntl_exec",
    "mail",
    "putenv",
    "symlink",
    "link",
    "parse_ini_file",
    "show_source",
];

/// The PHP-FPM pool, run as the site's own user. The slow log is written by PHP-FPM's master
/// (root), so it lives in `log_dir` (root's), never in the site's tree; PHP's temporary files,
/// uploads and sessions stay in the site's own `tmp/` and `sessions/` (no shared `/tmp`).
pub fn pool(
    domain: &Domain,
    names: &SiteNames,
    version: PhpVersion,
    site_dir: &Path,
    socket: &Path,
    log_dir: &Path,
) -> String {
    let root = site_dir.display();
    let logs = log_dir.display();
    let disabled = DISABLED_FUNCTIONS.join(",");
    format!(
        r#"; Managed by chom-agent: changes are overwritten.
[{pool}]
user = {user}
group = {user}
listen = {socket}
listen.owner = www-data
listen.group = www-data
listen.mode = 0660

pm = dynamic
pm.max_children = 10
pm.start_servers = 2
pm.min_spare_servers = 1
pm.max_spare_servers = 5
pm.max_requests = 500
pm.process_idle_timeout = 10s
pm.status_path = /fpm-status

slowlog = {logs}/php-slow.log
request_slowlog_timeout = 10s
php_admin_value[error_log] = {root}/logs/php-error.log
php_admin_flag[log_errors] = on
php_admin_flag[display_errors] = off
php_admin_value[open_basedir] = {root}:/usr/share/php
php_admin_value[disable_functions] = {disabled}
php_admin_value[upload_tmp_dir] = {root}/tmp
php_admin_value[session.save_path] = {root}/sessions
php_admin_value[sys_temp_dir] = {root}/tmp
php_admin_value[memory_limit] = 256M
php_admin_value[upload_max_filesize] = 64M
php_admin_value[post_max_size] = 64M
php_admin_value[max_execution_time] = 300
php_admin_value[max_input_vars] = 3000
php_admin_value[date.timezone] = UTC
php_admin_flag[session.cookie_httponly] = on
php_admin_flag[session.cookie_secure] = on
php_admin_value[session.cookie_samesite] = Lax
env[SITE_ROOT] = {root}
env[SITE_DOMAIN] = {domain}
env[PHP_VERSION] = {version}
"#,
        pool = names.pool,
        user = names.system_user,
        socket = socket.display(),
        version = version.as_str(),
    )
}

/// The sandbox's own `nginx.conf`, so `nginx -t` checks the generated vhosts without the
/// machine's configuration.
pub fn sandbox_nginx_conf(root: &Path) -> String {
    let r = root.display();
    format!(
        r#"# chom-agent sandbox
pid {r}/run/nginx.pid;
error_log {r}/var/log/nginx/error.log;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    include {r}/etc/nginx/conf.d/*.conf;
    include {r}/etc/nginx/sites-enabled/*.conf;
}}
"#
    )
}
