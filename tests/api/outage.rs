//! Taking a test's PostgreSQL database away from the running service, from
//! outside, and giving it back.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::helpers::TestApp;

/// A connection to the app's PostgreSQL server that acts on the app's
/// database from outside.
pub struct Outside {
    name: String,
    admin: DatabaseConnection,
}

impl Outside {
    pub async fn connect(app: &TestApp) -> Self {
        let row = app
            .db
            .query_one_raw(Statement::from_string(
                app.db.get_database_backend(),
                "SELECT current_database() AS name",
            ))
            .await
            .unwrap()
            .unwrap();
        let name: String = row.try_get("", "name").unwrap();
        let admin = sea_orm::Database::connect(std::env::var("TEST_DATABASE_URL").unwrap())
            .await
            .unwrap();
        Self { name, admin }
    }

    /// Kills every connection the app holds to its database.
    pub async fn kill_connections(&self) {
        self.admin
            .execute_unprepared(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{}' AND pid <> pg_backend_pid()",
                self.name
            ))
            .await
            .unwrap();
    }

    /// Refuses new connections to the database and kills the open ones.
    pub async fn cut_off(&self) {
        self.allow_connections(false).await;
        self.kill_connections().await;
    }

    /// Lets connections in again.
    pub async fn restore(&self) {
        self.allow_connections(true).await;
    }

    async fn allow_connections(&self, allow: bool) {
        self.admin
            .execute_unprepared(&format!(
                "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS {allow}",
                self.name
            ))
            .await
            .unwrap();
    }
}
