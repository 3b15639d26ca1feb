//! The one report pipeline: every kind goes through the same steps, and this module is the only place that lists
//! the kinds.
//!
//! 1. [`Request::from_json`] reads the flat parameters object of a kind ([`crate::params::Params`]).
//! 2. [`Request::plan`] resolves defaults, dates and the window, checks limits, and says what to read: one
//!    [`Scan`] for every project of the report.
//! 3. The engine loads one [`EventTable`] per project for that scan (or takes it from its cache).
//! 4. [`Planned::run`] computes the [`Report`], which renders as JSON, a table, CSV or SVG.
//!
//! A kind implements [`ReportKind`] (its parameters, plan and kernel calls) and [`Output`] (its renderings); adding
//! it to the `kinds!` list below wires it into the CLI, the HTTP API and `verify`.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::params::{Common, KindParams, Params};
use crate::provenance::Provenance;
use crate::render::{ChartOptions, TableOptions};
use crate::table::{EventTable, Scan};

/// Bounds on what parameters may make a report allocate, refused before the allocation with the field to change,
/// and on how long it may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most result cells (counts a report holds: buckets × rows × columns, buckets × points, …).
    pub max_cells: u64,
    /// When set, the report stops at its next check past this instant with [`Error::TimedOut`] (the engine checks
    /// between segments and tables, each kind between projects and series).
    pub deadline: Option<std::time::Instant>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_cells: 20_000_000,
            deadline: None,
        }
    }
}

impl Limits {
    /// Stops a report past its deadline.
    ///
    /// # Errors
    /// [`Error::TimedOut`] once the deadline has passed.
    pub fn check_time(&self) -> Result<()> {
        match self.deadline {
            Some(d) if std::time::Instant::now() >= d => Err(Error::TimedOut),
            _ => Ok(()),
        }
    }

    /// Refuses a result of `cells` counts, naming `field` as the parameter that sizes it.
    ///
    /// # Errors
    /// [`Error::TooLarge`] past [`Limits::max_cells`].
    pub fn check_cells(&self, field: &str, cells: u64) -> Result<()> {
        if cells > self.max_cells {
            return Err(Error::TooLarge {
                field: field.to_string(),
                message: format!(
                    "the report would hold {cells} cells, more than the limit of {}; narrow the window, \
                     use a longer period or a smaller breakdown",
                    self.max_cells
                ),
            });
        }
        Ok(())
    }
}

/// A report kind: its parameters, how it plans its scan, and how it computes its output from the tables.
pub trait ReportKind {
    /// The kind's own parameters.
    type Fields: KindParams;
    /// A resolved request.
    type Plan: std::fmt::Debug + Clone;
    /// The computed report.
    type Output: Output;

    /// Resolves defaults, dates and the window.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the parameter, [`Error::TooLarge`] past a limit.
    fn plan(params: Params<Self::Fields>, now_us: i64, limits: &Limits) -> Result<Self::Plan>;

    /// The resolved parameters, echoed in the output.
    fn params(plan: &Self::Plan) -> &Params<Self::Fields>;

    /// What to read, the same for every project.
    fn scan(plan: &Self::Plan) -> Scan;

    /// Computes the report over one table per project, in the order of `projects`.
    ///
    /// # Errors
    /// [`Error::TooLarge`] when the data makes the result exceed a limit (a breakdown with too many values).
    fn run(plan: &Self::Plan, tables: &[&EventTable], limits: &Limits) -> Result<Self::Output>;

    /// The event names the report counts, for a note when the data holds none of one.
    fn event_names(plan: &Self::Plan) -> Vec<String> {
        let _ = plan;
        Vec::new()
    }
}

/// The event names of entities, each once, in order.
pub(crate) fn entity_names<'a>(
    entities: impl IntoIterator<Item = &'a crate::params::Entity>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in entities {
        for n in e.event.names().unwrap_or_default() {
            if !out.iter().any(|o| o == n) {
                out.push(n.to_string());
            }
        }
    }
    out
}

/// What every computed report offers its surfaces.
pub trait Output {
    /// The documented JSON (docs/report-json.md), with `kind`, `definition`, `parameters`, `window` and
    /// `provenance`.
    fn to_json(&self) -> Value;
    /// A text table (coloured on a terminal, fitted to its width).
    fn to_table(&self, opts: &TableOptions) -> String;
    /// Comma-separated rows.
    fn to_csv(&self) -> String;
    /// The names of the kind's charts; the first is the default.
    fn charts(&self) -> &'static [&'static str];
    /// One chart as SVG; `None` for a name not in [`Output::charts`].
    fn to_svg(&self, chart: &str, opts: &ChartOptions) -> Option<String>;
    /// Where the numbers came from.
    fn provenance(&self) -> &Provenance;
    /// The provenance, to add notes to.
    fn provenance_mut(&mut self) -> &mut Provenance;
}

macro_rules! kinds {
    ($($variant:ident => $module:ident :: $kind:ident),+ $(,)?) => {
        /// A report kind.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Kind {
            $(
                #[doc = concat!("`", stringify!($module), "`")]
                $variant,
            )+
        }

        impl Kind {
            /// Every kind, in documentation order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),+];

            /// The kind's name, as in the API path and the output's `kind`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Kind::$variant => <crate::$module::$kind as ReportKind>::Fields::KIND,)+
                }
            }

            /// The kind of a name.
            pub fn parse(name: &str) -> Option<Kind> {
                Kind::ALL.iter().copied().find(|k| k.name() == name)
            }
        }

        /// A report request of some kind.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Request {
            $(
                #[doc = concat!("A `", stringify!($module), "` request.")]
                $variant(Params<<crate::$module::$kind as ReportKind>::Fields>),
            )+
        }

        impl Request {
            /// Reads the parameters object of a kind.
            ///
            /// # Errors
            /// [`Error::Invalid`] naming the field.
            pub fn from_json(kind: Kind, v: &Value) -> Result<Request> {
                Ok(match kind {
                    $(Kind::$variant => Request::$variant(Params::from_json(v)?),)+
                })
            }

            /// The request's kind.
            pub fn kind(&self) -> Kind {
                match self {
                    $(Request::$variant(_) => Kind::$variant,)+
                }
            }

            /// The shared parameters.
            pub fn common(&self) -> &Common {
                match self {
                    $(Request::$variant(p) => &p.common,)+
                }
            }

            /// The shared parameters, to fill defaults in (the project's time zone, say).
            pub fn common_mut(&mut self) -> &mut Common {
                match self {
                    $(Request::$variant(p) => &mut p.common,)+
                }
            }

            /// Applies the stored settings of the request's projects ([`Common::apply_settings`]), for the shared
            /// parameters this kind accepts.
            ///
            /// # Errors
            /// [`Error::Invalid`] naming `timezone` or `week_start` when the projects' settings differ.
            pub fn apply_settings(
                &mut self,
                stored: &std::collections::BTreeMap<String, crate::settings::ProjectSettings>,
            ) -> Result<()> {
                match self {
                    $(Request::$variant(p) => p.common.apply_settings(
                        stored,
                        <<crate::$module::$kind as ReportKind>::Fields as crate::params::KindParams>::COMMON,
                        <<crate::$module::$kind as ReportKind>::Fields as crate::params::KindParams>::SEVERAL_PROJECTS_TIMEZONE,
                    ),)+
                }
            }

            /// The flat parameters object.
            pub fn to_json(&self) -> Value {
                match self {
                    $(Request::$variant(p) => p.to_json(),)+
                }
            }

            /// Resolves the request against the current time.
            ///
            /// # Errors
            /// [`Error::Invalid`] naming the parameter, [`Error::TooLarge`] past a limit.
            pub fn plan(self, now_us: i64, limits: &Limits) -> Result<Planned> {
                Ok(match self {
                    $(Request::$variant(p) => Planned::$variant(<crate::$module::$kind as ReportKind>::plan(p, now_us, limits)?),)+
                })
            }
        }

        /// A resolved request: what to read, and how to compute.
        #[derive(Debug, Clone)]
        pub enum Planned {
            $(
                #[doc = concat!("A `", stringify!($module), "` plan.")]
                $variant(<crate::$module::$kind as ReportKind>::Plan),
            )+
        }

        impl Planned {
            /// The projects, in output order.
            pub fn projects(&self) -> &[String] {
                match self {
                    $(Planned::$variant(p) => &<crate::$module::$kind as ReportKind>::params(p).common.projects,)+
                }
            }

            /// What to read for each project.
            pub fn scan(&self) -> Scan {
                match self {
                    $(Planned::$variant(p) => <crate::$module::$kind as ReportKind>::scan(p),)+
                }
            }

            /// Computes the report.
            ///
            /// # Errors
            /// [`Error::TooLarge`] past a limit.
            pub fn run(&self, tables: &[&EventTable], limits: &Limits) -> Result<Report> {
                if tables.len() != self.projects().len() {
                    return Err(Error::invalid("projects", "one table per project is needed"));
                }
                Ok(match self {
                    $(Planned::$variant(p) => {
                        let mut out = <crate::$module::$kind as ReportKind>::run(p, tables, limits)?;
                        event_notes::<crate::$module::$kind>(p, &mut out, tables);
                        Report::$variant(out)
                    })+
                })
            }
        }

        /// A computed report of some kind.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Report {
            $(
                #[doc = concat!("A `", stringify!($module), "` report.")]
                $variant(<crate::$module::$kind as ReportKind>::Output),
            )+
        }

        impl Report {
            /// The report's kind.
            pub fn kind(&self) -> Kind {
                match self {
                    $(Report::$variant(_) => Kind::$variant,)+
                }
            }

            fn output(&self) -> &dyn Output {
                match self {
                    $(Report::$variant(r) => r,)+
                }
            }
        }
    };
}

/// Adds a note for each named event a table does not hold (the last step of every report).
fn event_notes<K: ReportKind>(plan: &K::Plan, out: &mut K::Output, tables: &[&EventTable]) {
    let names = K::event_names(plan);
    let lang = K::params(plan).common.lang;
    for t in tables {
        out.provenance_mut()
            .notes
            .extend(crate::provenance::event_notes(t, &names, lang));
    }
}

/// A retention report from counts another engine computed ([`crate::retention::from_counts`]), finished as
/// [`Planned::run`] finishes one.
///
/// # Errors
/// [`Error::TimedOut`] past the deadline.
pub fn retention_from_counts(
    plan: &crate::retention::Plan,
    tables: &[&EventTable],
    counted: Vec<crate::retention::Counted>,
    limits: &Limits,
) -> Result<Report> {
    one_per_project(&plan.params.common, tables, counted.len())?;
    let mut out = crate::retention::from_counts(plan, tables, counted, limits)?;
    event_notes::<crate::retention::Retention>(plan, &mut out, tables);
    Ok(Report::Retention(out))
}

/// A trends report from counts another engine computed ([`crate::trends::from_counts`]), finished as
/// [`Planned::run`] finishes one.
///
/// # Errors
/// As [`crate::trends::from_counts`].
pub fn trends_from_counts(
    plan: &crate::trends::Plan,
    from: i64,
    tables: &[&EventTable],
    counts: Vec<crate::trends::ProjectCounts>,
    limits: &Limits,
) -> Result<Report> {
    one_per_project(&plan.params.common, tables, counts.len())?;
    let mut out = crate::trends::from_counts(plan, from, tables, counts, limits)?;
    event_notes::<crate::trends::Trends>(plan, &mut out, tables);
    Ok(Report::Trends(out))
}

/// A stickiness report from persons per exact number of active buckets another engine counted
/// ([`crate::stickiness::from_counts`]), finished as [`Planned::run`] finishes one.
///
/// # Errors
/// As [`crate::stickiness::from_counts`].
pub fn stickiness_from_counts(
    plan: &crate::stickiness::Plan,
    tables: &[&EventTable],
    exact: Vec<u64>,
) -> Result<Report> {
    one_per_project(&plan.params.common, tables, tables.len())?;
    let mut out = crate::stickiness::from_counts(plan, tables, exact)?;
    event_notes::<crate::stickiness::Stickiness>(plan, &mut out, tables);
    Ok(Report::Stickiness(out))
}

/// A lifecycle report from status counts over `window` another engine counted ([`crate::lifecycle::from_counts`]),
/// finished as [`Planned::run`] finishes one.
///
/// # Errors
/// As [`crate::lifecycle::from_counts`].
pub fn lifecycle_from_counts(
    plan: &crate::lifecycle::Plan,
    window: &crate::window::Window,
    tables: &[&EventTable],
    counts: &crate::lifecycle::LifecycleCounts,
) -> Result<Report> {
    one_per_project(&plan.params.common, tables, tables.len())?;
    let mut out = crate::lifecycle::from_counts(plan, window, tables, counts)?;
    event_notes::<crate::lifecycle::Lifecycle>(plan, &mut out, tables);
    Ok(Report::Lifecycle(out))
}

/// A growth report from each project's counts another engine counted ([`crate::growth::from_counts`]), finished
/// as [`Planned::run`] finishes one.
///
/// # Errors
/// As [`crate::growth::from_counts`].
pub fn growth_from_counts(
    plan: &crate::growth::Plan,
    tables: &[&EventTable],
    counts: Vec<crate::growth::GrowthCounts>,
    limits: &Limits,
) -> Result<Report> {
    one_per_project(&plan.params.common, tables, counts.len())?;
    let mut out = crate::growth::from_counts(plan, tables, counts, limits)?;
    event_notes::<crate::growth::Growth>(plan, &mut out, tables);
    Ok(Report::Growth(out))
}

/// A funnels report from the read events and roles another engine computed ([`crate::funnels::from_roles`]),
/// finished as [`Planned::run`] finishes one.
///
/// # Errors
/// As [`crate::funnels::from_roles`].
pub fn funnels_from_roles(
    plan: &crate::funnels::Plan,
    from: i64,
    tables: &[&EventTable],
    roles: Vec<crate::funnels::Roles>,
    limits: &Limits,
) -> Result<Report> {
    one_per_project(&plan.params.common, tables, roles.len())?;
    let mut out = crate::funnels::from_roles(plan, from, tables, roles, limits)?;
    event_notes::<crate::funnels::Funnels>(plan, &mut out, tables);
    Ok(Report::Funnels(out))
}

/// An economics report from the inputs another engine decided ([`crate::economics::from_given`]), finished as
/// [`Planned::run`] finishes one.
///
/// # Errors
/// As [`crate::economics::from_given`].
pub fn economics_from_given(
    plan: &crate::economics::Plan,
    tables: &[&EventTable],
    given: Vec<crate::economics::Given>,
    limits: &Limits,
) -> Result<Report> {
    one_per_project(&plan.params.common, tables, given.len())?;
    let mut out = crate::economics::from_given(plan, tables, given, limits)?;
    event_notes::<crate::economics::Economics>(plan, &mut out, tables);
    Ok(Report::Economics(out))
}

/// Counts from another engine come as one table and one count per project.
fn one_per_project(
    common: &crate::params::Common,
    tables: &[&EventTable],
    counts: usize,
) -> Result<()> {
    if tables.len() != common.projects.len() || counts != tables.len() {
        return Err(Error::invalid(
            "projects",
            "one table and one count per project are needed",
        ));
    }
    Ok(())
}

kinds! {
    Retention => retention::Retention,
    Trends => trends::Trends,
    Stickiness => stickiness::Stickiness,
    Lifecycle => lifecycle::Lifecycle,
    Growth => growth::Growth,
    Funnels => funnels::Funnels,
    Economics => economics::Economics,
}

impl Report {
    /// The documented JSON.
    pub fn to_json(&self) -> Value {
        self.output().to_json()
    }

    /// A text table: a [`Color`](crate::render::Color) alone gives every column.
    pub fn to_table(&self, opts: impl Into<TableOptions>) -> String {
        let mut out = self.output().to_table(&opts.into());
        let notes = &self.provenance().notes;
        if !notes.is_empty() {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("\nNotes:\n");
            for n in notes {
                out.push_str(&format!("  ! {} ({})\n", n.text, n.code));
            }
        }
        out
    }

    /// Comma-separated rows.
    pub fn to_csv(&self) -> String {
        self.output().to_csv()
    }

    /// The kind's chart names; the first is the default.
    pub fn charts(&self) -> &'static [&'static str] {
        self.output().charts()
    }

    /// A chart as SVG: the default one for `None`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `chart` for a name the kind does not draw.
    pub fn to_svg(&self, chart: Option<&str>) -> Result<String> {
        self.to_svg_with(chart, &ChartOptions::default())
    }

    /// A chart as SVG, drawn with `opts` (such as a fixed colour scale to compare heatmaps).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `chart` for a name the kind does not draw.
    pub fn to_svg_with(&self, chart: Option<&str>, opts: &ChartOptions) -> Result<String> {
        let out = self.output();
        let name = chart.unwrap_or(out.charts()[0]);
        let svg = out.to_svg(name, opts).ok_or_else(|| {
            Error::invalid(
                "chart",
                format!(
                    "{} reports draw {}, not {name:?}",
                    self.kind().name(),
                    out.charts().join(", ")
                ),
            )
        })?;
        let notes: Vec<String> = self
            .provenance()
            .notes
            .iter()
            .map(|n| format!("! {}", n.text))
            .collect();
        Ok(crate::svg::with_notes(svg, &notes))
    }

    /// Where the numbers came from.
    pub fn provenance(&self) -> &Provenance {
        self.output().provenance()
    }
}
