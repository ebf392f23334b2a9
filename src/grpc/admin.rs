//! `bucketbus.v1.Admin`: notification rules, and queues (handled in `queue_admin`).

use tonic::{Request, Response, Status};

use super::convert;
use super::pb;
use super::status::status;
use super::{dead_letters, endpoints, ledger, queue_admin, queue_dead_letters, replay};
use crate::admin::Admin;

pub struct AdminService {
    admin: Admin,
}

impl AdminService {
    pub fn new(admin: Admin) -> AdminService {
        AdminService { admin }
    }
}

#[tonic::async_trait]
impl pb::admin_server::Admin for AdminService {
    async fn put_rule(
        &self,
        request: Request<pb::PutRuleRequest>,
    ) -> Result<Response<pb::PutRuleResponse>, Status> {
        let request = request.into_inner();
        let rule = request
            .rule
            .ok_or_else(|| Status::invalid_argument("rule: is required"))?;
        let spec = convert::rule_spec(rule).map_err(status)?;
        let saved = self
            .admin
            .put_rule(spec, request.skip_test_event)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::PutRuleResponse {
            rule: Some(convert::rule(&saved.rule)),
            created: saved.created,
            in_force_everywhere_by: Some(convert::timestamp(saved.in_force_everywhere_by)),
            test_events: saved
                .test_events
                .iter()
                .map(endpoints::test_event)
                .collect(),
        }))
    }

    async fn get_rule(
        &self,
        request: Request<pb::GetRuleRequest>,
    ) -> Result<Response<pb::Rule>, Status> {
        let r = request.into_inner();
        let rule = self.admin.get_rule(&r.bucket, &r.name).map_err(status)?;
        Ok(Response::new(convert::rule(&rule)))
    }

    async fn list_rules(
        &self,
        request: Request<pb::ListRulesRequest>,
    ) -> Result<Response<pb::ListRulesResponse>, Status> {
        let rules = self.admin.list_rules(&request.into_inner().bucket);
        Ok(Response::new(pb::ListRulesResponse {
            rules: rules.iter().map(|r| convert::rule(r)).collect(),
        }))
    }

    async fn delete_rule(
        &self,
        request: Request<pb::DeleteRuleRequest>,
    ) -> Result<Response<pb::DeleteRuleResponse>, Status> {
        let r = request.into_inner();
        self.admin
            .delete_rule(&r.bucket, &r.name)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteRuleResponse {}))
    }

    async fn match_rules(
        &self,
        request: Request<pb::MatchRulesRequest>,
    ) -> Result<Response<pb::MatchRulesResponse>, Status> {
        let r = request.into_inner();
        let verdicts = self
            .admin
            .match_rules(&r.bucket, &r.key, &r.event_name, r.delete_marker)
            .map_err(status)?;
        Ok(Response::new(pb::MatchRulesResponse {
            verdicts: verdicts.into_iter().map(convert::verdict).collect(),
        }))
    }

    async fn create_queue(
        &self,
        request: Request<pb::CreateQueueRequest>,
    ) -> Result<Response<pb::CreateQueueResponse>, Status> {
        queue_admin::create_queue(&self.admin, request).await
    }

    async fn get_queue(
        &self,
        request: Request<pb::GetQueueRequest>,
    ) -> Result<Response<pb::QueueInfo>, Status> {
        queue_admin::get_queue(&self.admin, request).await
    }

    async fn list_queues(
        &self,
        request: Request<pb::ListQueuesRequest>,
    ) -> Result<Response<pb::ListQueuesResponse>, Status> {
        queue_admin::list_queues(&self.admin, request).await
    }

    async fn set_queue_attributes(
        &self,
        request: Request<pb::SetQueueAttributesRequest>,
    ) -> Result<Response<pb::QueueInfo>, Status> {
        queue_admin::set_queue_attributes(&self.admin, request).await
    }

    async fn delete_queue(
        &self,
        request: Request<pb::DeleteQueueRequest>,
    ) -> Result<Response<pb::DeleteQueueResponse>, Status> {
        queue_admin::delete_queue(&self.admin, request).await
    }

    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        ledger::list_deliveries(&self.admin, request).await
    }

    async fn get_message(
        &self,
        request: Request<pb::GetMessageRequest>,
    ) -> Result<Response<pb::MessageRecord>, Status> {
        ledger::get_message(&self.admin, request).await
    }

    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        dead_letters::list_dead_letters(&self.admin, request).await
    }

    async fn redrive_dead_letters(
        &self,
        request: Request<pb::RedriveDeadLettersRequest>,
    ) -> Result<Response<pb::RedriveDeadLettersResponse>, Status> {
        dead_letters::redrive_dead_letters(&self.admin, request).await
    }

    async fn purge_dead_letters(
        &self,
        request: Request<pb::PurgeDeadLettersRequest>,
    ) -> Result<Response<pb::PurgeDeadLettersResponse>, Status> {
        dead_letters::purge_dead_letters(&self.admin, request).await
    }

    async fn list_queue_dead_letters(
        &self,
        request: Request<pb::ListQueueDeadLettersRequest>,
    ) -> Result<Response<pb::ListQueueDeadLettersResponse>, Status> {
        queue_dead_letters::list_queue_dead_letters(&self.admin, request).await
    }

    async fn redrive_queue_dead_letters(
        &self,
        request: Request<pb::RedriveQueueDeadLettersRequest>,
    ) -> Result<Response<pb::RedriveQueueDeadLettersResponse>, Status> {
        queue_dead_letters::redrive_queue_dead_letters(&self.admin, request).await
    }

    async fn purge_queue_dead_letters(
        &self,
        request: Request<pb::PurgeQueueDeadLettersRequest>,
    ) -> Result<Response<pb::PurgeQueueDeadLettersResponse>, Status> {
        queue_dead_letters::purge_queue_dead_letters(&self.admin, request).await
    }

    async fn replay_topic(
        &self,
        request: Request<pb::ReplayTopicRequest>,
    ) -> Result<Response<pb::ReplayTopicResponse>, Status> {
        replay::replay_topic(&self.admin, request).await
    }

    async fn list_endpoints(
        &self,
        request: Request<pb::ListEndpointsRequest>,
    ) -> Result<Response<pb::ListEndpointsResponse>, Status> {
        endpoints::list_endpoints(&self.admin, request).await
    }
}
