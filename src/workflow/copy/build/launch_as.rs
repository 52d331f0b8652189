//! How amishare test-launches as each `--grant` principal of a target account (issue 11),
//! planned next to the test launch as amishare's own target role.
//!
//! - Auto Scaling's service-linked role (`role/aws-service-role/autoscaling.amazonaws.com/
//!   AWSServiceRoleForAutoScaling`): through a temporary launch template and group of one;
//! - any other role: AssumeRole into it (whether the target role may is only known when it tries:
//!   a denial makes it "verified by analysis only");
//! - an IAM user, a group, the account root, another service's role, a session: analysis only,
//!   with the reason. The target role itself is not repeated (its test launch is the existing
//!   step).

use crate::domain::arn::{is_autoscaling_service_role, Principal, PrincipalKind};
use crate::workflow::copy::facts::TargetFacts;
use crate::workflow::plan::{Action, LaunchHow};

/// How amishare can act as `launcher`, and why not when it cannot.
pub fn launch_how(launcher: &str) -> (LaunchHow, Option<String>) {
    let analysis = |why: &str| (LaunchHow::AnalysisOnly, Some(why.to_string()));
    let Some(p) = Principal::parse(launcher) else {
        return analysis("not an IAM principal amishare can act as");
    };
    match p.kind {
        PrincipalKind::Role if is_autoscaling_service_role(launcher) => {
            (LaunchHow::AutoScalingGroup, None)
        }
        PrincipalKind::Role if p.path.starts_with("/aws-service-role/") => {
            analysis("a service-linked role: only its AWS service acts as it")
        }
        PrincipalKind::Role => (LaunchHow::AssumeRole, None),
        PrincipalKind::User => analysis("an IAM user: amishare has no credentials of it"),
        PrincipalKind::Group => {
            analysis("an IAM group: its users launch, amishare is none of them")
        }
        PrincipalKind::Root => {
            analysis("the account itself: amishare does not act as the root user")
        }
        PrincipalKind::AssumedRole => {
            analysis("a role session: name the role to test-launch as it")
        }
    }
}

/// The role amishare acts as in the target (from its session ARN), if any.
fn own_role(t: &TargetFacts) -> Option<String> {
    let identity = t.identity.as_ref()?;
    let p = Principal::parse(&identity.arn)?;
    matches!(p.kind, PrincipalKind::AssumedRole | PrincipalKind::Role).then(|| p.name.to_string())
}

/// One `test-launch-as` step per `--grant` principal of the target account (the target role
/// itself excepted).
pub fn launcher_actions(
    t: &TargetFacts,
    image_id: Option<String>,
    instance_type: &str,
    subnet_id: Option<String>,
) -> Vec<Action> {
    let own = own_role(t);
    t.principals
        .iter()
        .filter(|p| {
            let parsed = Principal::parse(&p.arn);
            !(parsed.is_some_and(|x| x.kind == PrincipalKind::Role)
                && own.as_deref() == parsed.map(|x| x.name))
        })
        .map(|p| {
            let (how, reason) = launch_how(&p.arn);
            Action::TestLaunchAs {
                image_id: image_id.clone(),
                launcher: p.arn.clone(),
                how,
                reason,
                instance_type: instance_type.to_string(),
                subnet_id: subnet_id.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_launcher_is_tested_as_far_as_amishare_can_act_as_it() {
        let slr = "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling";
        assert_eq!(launch_how(slr), (LaunchHow::AutoScalingGroup, None));
        assert_eq!(
            launch_how("arn:aws:iam::444455556666:role/ops/Launcher").0,
            LaunchHow::AssumeRole
        );
        for other in [
            "arn:aws:iam::444455556666:user/test",
            "arn:aws:iam::444455556666:group/ops",
            "arn:aws:iam::444455556666:root",
            "arn:aws:iam::444455556666:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing",
            "arn:aws:sts::444455556666:assumed-role/Launcher/s",
        ] {
            let (how, reason) = launch_how(other);
            assert_eq!(how, LaunchHow::AnalysisOnly, "{other}");
            assert!(reason.is_some_and(|r| !r.is_empty()), "{other}");
        }
    }

    /// The new step kind's JSON: kebab-case, `reason` only when there is one; it reads back.
    #[test]
    fn test_launch_as_steps_round_trip_through_json() {
        let analysis = Action::TestLaunchAs {
            image_id: None,
            launcher: "arn:aws:iam::444455556666:user/ci".into(),
            how: LaunchHow::AnalysisOnly,
            reason: Some("an IAM user".into()),
            instance_type: "t3.nano".into(),
            subnet_id: None,
        };
        let v = serde_json::to_value(&analysis).unwrap();
        assert_eq!(v["action"], "test-launch-as");
        assert_eq!(v["how"], "analysis-only");
        assert_eq!(v["reason"], "an IAM user");
        assert_eq!(serde_json::from_value::<Action>(v).unwrap(), analysis);
        let asg = serde_json::json!({"action": "test-launch-as", "image_id": "ami-1",
            "launcher": "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
            "how": "auto-scaling-group", "instance_type": "t3.nano", "subnet_id": null});
        let a: Action = serde_json::from_value(asg.clone()).unwrap();
        assert!(matches!(
            a,
            Action::TestLaunchAs {
                how: LaunchHow::AutoScalingGroup,
                reason: None,
                ..
            }
        ));
        assert_eq!(serde_json::to_value(&a).unwrap(), asg);
    }
}
