"""The champion's Model Serving endpoint, a bundle resource defined in Python (``python.resources`` in
databricks.yml) because it can exist only once there is a champion: Model Serving names a fixed model version
(it cannot follow the ``champion`` alias), and a version must exist when its endpoint is created. So the endpoint
is part of a deployment exactly when ``champion_version`` is set:

    databricks bundle deploy -t prod --var champion_version=$(molpipe status --model hiv_fp_mlp --json | jq -r .champion.version)

`molpipe status` tells when a promotion has left the endpoint behind (``serves_champion: false``).
"""

from databricks.bundles.core import Bundle, Resources
from databricks.bundles.model_serving_endpoints import ModelServingEndpoint


def load_resources(bundle: Bundle) -> Resources:
    resources = Resources()
    version = str(bundle.variables.get("champion_version") or "").strip()
    if version:
        resources.add_model_serving_endpoint("champion", champion_endpoint(version))
    return resources


def champion_endpoint(version: str) -> ModelServingEndpoint:
    return ModelServingEndpoint.from_dict(
        {
            "name": "${var.model_name}-champion",
            "description": "The ${var.model_name} champion: SMILES in, predictions out (standardization and "
            "featurization inside the model)",
            "config": {
                "served_entities": [
                    {
                        "name": "champion",
                        "entity_name": "${var.catalog}.${resources.schemas.molpipe.name}."
                        "${resources.registered_models.model.name}",
                        "entity_version": version,
                        "workload_size": "Small",
                        "scale_to_zero_enabled": True,
                    }
                ]
            },
            "ai_gateway": {  # every request and response logged to a Delta table beside molpipe's
                "inference_table_config": {
                    "enabled": True,
                    "catalog_name": "${var.catalog}",
                    "schema_name": "${resources.schemas.molpipe.name}",
                    "table_name_prefix": "serving",
                }
            },
            "tags": [{"key": "project", "value": "molpipe"}],
            "permissions": [{"level": "CAN_QUERY", "group_name": "${var.viewers_group}"}],
        }
    )
