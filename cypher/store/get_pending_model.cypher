// name: store/get_pending_model
// answers: The properties of one model whether or not it still waits for its first run (the
//          run write of put_model_with_run needs the hidden model).
// params: model_id
MATCH (m:Model {model_id: $model_id})
RETURN m {.*} AS model
