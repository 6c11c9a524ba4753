"""Path templates shared by the endpoint modules."""

SUB = "/subscriptions/{subscription}"
GROUP = SUB + "/resourcegroups/{group}"
COMPUTE_LOCATION = SUB + "/providers/Microsoft.Compute/locations/{location}"
SCALE_SETS = GROUP + "/providers/Microsoft.Compute/virtualMachineScaleSets"
SCALE_SET = SCALE_SETS + "/{name}"
VM = SCALE_SET + "/virtualMachines/{instance}"
