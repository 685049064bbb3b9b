//! Background tasks (SPEC A4): small timed database jobs an app schedules on the node.
//!
//! A task is a list of database operations on the app's own data Mimei, run as one
//! atomic batch once after `delay_secs` or every `every_secs`. The value `"$now"` is
//! replaced by the run time (milliseconds since the Unix epoch), so a task can stamp
//! when it ran. Limits: [`MAX_TASKS_PER_APP`] tasks per app, [`MAX_TASK_OPS`]
//! operations each, at least [`MIN_EVERY_SECS`] between runs of a repeating task and
//! [`MIN_DELAY_SECS`] before a first run. Tasks are kept in the registry Mimei, so they
//! survive restarts; a run that was due while the node was down happens at start.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AppError, Apps, Result, json, now_ms, parse, random_token};
use crate::mimei::{BatchOp, MimeiId};

pub const MAX_TASKS_PER_APP: usize = 8;
pub const MAX_TASK_OPS: usize = 100;
pub const MIN_EVERY_SECS: u64 = 60;
pub const MIN_DELAY_SECS: u64 = 1;

/// One operation of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TaskOp {
    /// Set `key` to `value` (`"$now"` = run time in ms).
    DbPut {
        key: String,
        value: String,
    },
    DbDelete {
        key: String,
    },
}

/// What an app asks to schedule.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewTask {
    pub ops: Vec<TaskOp>,
    /// Seconds until the first run (default and minimum 1).
    #[serde(default)]
    pub delay_secs: Option<u64>,
    /// Repeat every this many seconds (at least 60); absent = run once.
    #[serde(default)]
    pub every_secs: Option<u64>,
}

/// A scheduled task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Task {
    pub id: String,
    pub app: MimeiId,
    pub ops: Vec<TaskOp>,
    pub every_secs: Option<u64>,
    /// Next run, ms since the Unix epoch.
    pub next_run: u64,
    pub runs: u64,
    pub last_error: Option<String>,
}

/// What a scheduler pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskRun {
    pub ran: usize,
    pub failed: usize,
}

pub(super) fn prefix(app: &MimeiId) -> String {
    format!("task/{app}/")
}

impl Apps {
    /// Schedule a task for an installed app, within the limits.
    pub fn schedule(&self, app: &MimeiId, new: NewTask) -> Result<Task> {
        self.installed(app)?;
        if new.ops.is_empty() || new.ops.len() > MAX_TASK_OPS {
            return Err(AppError::Limit(format!(
                "a task has 1 to {MAX_TASK_OPS} operations"
            )));
        }
        if let Some(e) = new.every_secs
            && e < MIN_EVERY_SECS
        {
            return Err(AppError::Limit(format!(
                "every_secs must be at least {MIN_EVERY_SECS}"
            )));
        }
        let delay = new.delay_secs.unwrap_or(MIN_DELAY_SECS);
        if !(MIN_DELAY_SECS..=366 * 24 * 3600).contains(&delay) {
            return Err(AppError::Limit(format!(
                "delay_secs must be between {MIN_DELAY_SECS} and one year"
            )));
        }
        // Check the operations now rather than at run time.
        let probe = ops(&new.ops, 0);
        for op in &probe {
            if let BatchOp::DbPut { key, .. } | BatchOp::DbDelete { key } = op
                && (key.is_empty() || key.len() > crate::mimei::MAX_DB_KEY_LEN)
            {
                return Err(AppError::Limit(format!(
                    "database keys are 1 to {} bytes",
                    crate::mimei::MAX_DB_KEY_LEN
                )));
            }
        }
        if self.tasks(app)?.len() >= MAX_TASKS_PER_APP {
            return Err(AppError::Limit(format!(
                "an app may have at most {MAX_TASKS_PER_APP} tasks"
            )));
        }
        let id = random_token()?[..16].to_string();
        let task = Task {
            id,
            app: *app,
            ops: new.ops,
            every_secs: new.every_secs,
            next_run: now_ms() + delay * 1000,
            runs: 0,
            last_error: None,
        };
        self.save_task(&task)?;
        Ok(task)
    }

    fn save_task(&self, t: &Task) -> Result<()> {
        Ok(self
            .registry()?
            .write(&[(format!("{}{}", prefix(&t.app), t.id), Some(json(t)))])?)
    }

    /// The tasks of an app.
    pub fn tasks(&self, app: &MimeiId) -> Result<Vec<Task>> {
        self.registry()?
            .scan(&prefix(app), None)?
            .into_iter()
            .map(|(_, v)| parse(&v, "task"))
            .collect()
    }

    /// Cancel a task of an app.
    pub fn cancel(&self, app: &MimeiId, id: &str) -> Result<()> {
        let key = format!("{}{id}", prefix(app));
        let reg = self.registry()?;
        if reg.get(&key)?.is_none() {
            return Err(AppError::NoSuchTask(id.into()));
        }
        Ok(reg.write(&[(key, None)])?)
    }

    /// Run every task that is due at `now` (ms). Each run is one atomic batch on the
    /// app's data Mimei; a failure is recorded in the task, not retried early.
    pub fn run_due(&self, now: u64) -> Result<TaskRun> {
        let mut report = TaskRun::default();
        let Some(reg) = self.registry_existing()? else {
            return Ok(report);
        };
        let due: Vec<Task> = reg
            .scan("task/", None)?
            .into_iter()
            .filter_map(|(_, v)| parse::<Task>(&v, "task").ok())
            .filter(|t| t.next_run <= now)
            .collect();
        for mut t in due {
            let Some(app) = self.get(&t.app)? else {
                self.cancel(&t.app, &t.id)?;
                continue;
            };
            let result = self
                .mimeis
                .apply_batch(&self.user, &app.data, &ops(&t.ops, now));
            t.runs += 1;
            report.ran += 1;
            t.last_error = result.err().map(|e| {
                report.failed += 1;
                e.to_string()
            });
            match t.every_secs {
                Some(every) => {
                    t.next_run = now + every * 1000;
                    self.save_task(&t)?;
                }
                None => self.cancel(&t.app, &t.id)?,
            }
        }
        Ok(report)
    }
}

fn ops(ops: &[TaskOp], now: u64) -> Vec<BatchOp> {
    ops.iter()
        .map(|o| match o {
            TaskOp::DbPut { key, value } => BatchOp::DbPut {
                key: key.clone(),
                value: if value == "$now" {
                    now.to_string().into_bytes()
                } else {
                    value.clone().into_bytes()
                },
            },
            TaskOp::DbDelete { key } => BatchOp::DbDelete { key: key.clone() },
        })
        .collect()
}
