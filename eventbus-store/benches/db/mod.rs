//! The databases a bench runs on: SQLite in a temporary file, and
//! PostgreSQL at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) in a schema of its own; each
//! removed at the end.
#![allow(dead_code)]

use sqlx::Connection;

/// A database for the bench, removed at the end.
pub struct Db {
    pub name: &'static str,
    pub url: String,
    pub cleanup: Box<dyn FnOnce()>,
}

pub fn sqlite() -> Db {
    let path = std::env::temp_dir().join(format!("eventbus-bench-{}.db", std::process::id()));
    let url = format!("sqlite://{}", path.display());
    Db {
        name: "sqlite",
        url,
        cleanup: Box::new(move || {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        }),
    }
}

pub fn postgres(runtime: &tokio::runtime::Runtime) -> Option<Db> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("eventbus_bench_{}", std::process::id());
    let admin = url.clone();
    let created = runtime.block_on(async {
        let mut connection = sqlx::PgConnection::connect(&admin).await?;
        sqlx::raw_sql(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut connection)
            .await
    });
    if let Err(error) = created {
        eprintln!("PostgreSQL benches skipped: {url} is not reachable: {error}");
        return None;
    }
    let joint = if url.contains('?') { '&' } else { '?' };
    let handle = runtime.handle().clone();
    Some(Db {
        name: "postgres",
        url: format!("{url}{joint}options[search_path]={schema}"),
        cleanup: Box::new(move || {
            let _ = handle.block_on(async {
                let mut connection = sqlx::PgConnection::connect(&admin).await?;
                sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&mut connection)
                    .await
            });
        }),
    })
}
