//! AdminService's API-client RPCs (CreateApiClient, ListApiClients, RevokeApiClient), kept
//! beside `admin.rs`, which delegates to them, together with their conversions.

use tonic::{Request, Response, Status};
use twostep_core::api_client::{ApiClient, Scope, Scopes};
use twostep_core::ids::ApiClientId;
use twostep_proto::v1 as pb;

use super::admin::AdminApi;
use crate::caller;
use crate::convert;
use crate::error::{IntoStatus, invalid_argument};

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 500;

impl AdminApi {
    pub(super) async fn create_api_client_rpc(
        &self,
        request: Request<pb::CreateApiClientRequest>,
    ) -> Result<Response<pb::CreateApiClientResponse>, Status> {
        let field = request.get_ref().tenant_id.clone();
        let tenant = caller::target_tenant(&self.state, &request, "tenant_id", &field).await?;
        let caller = caller::caller(&request)?.clone();
        let req = request.into_inner();
        convert::bounded("name", &req.name, 4 * 100)?;
        let scopes = scopes_from(&req.scopes)?;
        // Nobody hands out more than they have: `operator` only from an operator.
        if scopes.contains(Scope::Operator) && !caller.is_operator() {
            return Err(Status::permission_denied(
                "only an API key with the operator scope can grant it",
            ));
        }
        let (client, key) = self
            .state
            .api_clients
            .create(tenant, &req.name, scopes, &caller.actor())
            .await
            .into_status()?;
        Ok(Response::new(pb::CreateApiClientResponse {
            api_client: Some(api_client(&client)),
            api_key: key.expose().to_owned(),
        }))
    }

    pub(super) async fn list_api_clients_rpc(
        &self,
        request: Request<pb::ListApiClientsRequest>,
    ) -> Result<Response<pb::ListApiClientsResponse>, Status> {
        let field = request.get_ref().tenant_id.clone();
        let tenant = caller::target_tenant(&self.state, &request, "tenant_id", &field).await?;
        let req = request.into_inner();
        let limit = match req.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n > MAX_PAGE_SIZE => {
                return Err(invalid_argument("page_size", "must be at most 500"));
            }
            n => n,
        };
        let after = match req.page_token.trim() {
            "" => None,
            token => Some(token.parse::<ApiClientId>().map_err(|_| {
                invalid_argument("page_token", "is not a token from a previous page")
            })?),
        };
        let clients = self
            .state
            .api_clients
            .list(tenant, after, limit, req.include_revoked)
            .await
            .into_status()?;
        let next_page_token = match clients.last() {
            Some(last) if u32::try_from(clients.len()).unwrap_or(u32::MAX) == limit => {
                last.id.to_string()
            }
            _ => String::new(),
        };
        Ok(Response::new(pb::ListApiClientsResponse {
            api_clients: clients.iter().map(api_client).collect(),
            next_page_token,
        }))
    }

    pub(super) async fn revoke_api_client_rpc(
        &self,
        request: Request<pb::RevokeApiClientRequest>,
    ) -> Result<Response<pb::RevokeApiClientResponse>, Status> {
        let field = request.get_ref().tenant_id.clone();
        let tenant = caller::target_tenant(&self.state, &request, "tenant_id", &field).await?;
        let actor = caller::actor(&request);
        let id: ApiClientId =
            convert::required_id("api_client_id", &request.get_ref().api_client_id)?;
        let client = self
            .state
            .api_clients
            .revoke(tenant, id, &actor)
            .await
            .into_status()?;
        Ok(Response::new(pb::RevokeApiClientResponse {
            api_client: Some(api_client(&client)),
        }))
    }
}

/// The scopes of a request; at least one, none unspecified or unknown.
fn scopes_from(values: &[i32]) -> Result<Scopes, Status> {
    if values.is_empty() {
        return Err(invalid_argument("scopes", "must name at least one scope"));
    }
    values
        .iter()
        .map(|v| match pb::Scope::try_from(*v) {
            Ok(pb::Scope::Auth) => Ok(Scope::Auth),
            Ok(pb::Scope::Account) => Ok(Scope::Account),
            Ok(pb::Scope::Admin) => Ok(Scope::Admin),
            Ok(pb::Scope::Operator) => Ok(Scope::Operator),
            Ok(pb::Scope::Unspecified) | Err(_) => Err(invalid_argument(
                "scopes",
                "must be SCOPE_AUTH, SCOPE_ACCOUNT, SCOPE_ADMIN or SCOPE_OPERATOR",
            )),
        })
        .collect()
}

fn scope(s: Scope) -> pb::Scope {
    match s {
        Scope::Auth => pb::Scope::Auth,
        Scope::Account => pb::Scope::Account,
        Scope::Admin => pb::Scope::Admin,
        Scope::Operator => pb::Scope::Operator,
    }
}

/// A client as listed: never its key, only the key's public prefix.
fn api_client(c: &ApiClient) -> pb::ApiClient {
    pb::ApiClient {
        api_client_id: c.id.to_string(),
        tenant_id: c.tenant.to_string(),
        name: c.name.clone(),
        scopes: c.scopes.iter().map(|s| scope(s).into()).collect(),
        key_prefix: c.key_prefix(),
        created_at: Some(convert::timestamp(c.created_at)),
        last_used_at: c.last_used_at.map(convert::timestamp),
        revoked_at: c.revoked_at.map(convert::timestamp),
    }
}
