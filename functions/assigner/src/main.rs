use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let state = assigner::State::from_env().await?;
    let state = &state;
    run(service_fn(move |ev: LambdaEvent<CloudWatchEvent>| async move { assigner::handle(state, ev.payload).await })).await
}
