"""`/api/v1/employees`: the roster. A hire through this API takes effect at once (DESIGN §10);
editing, suspending, reinstating and terminating are the Director's too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from mcp_server.api.fields import EMPLOYEE_NAME
from mcp_server.api.models import Employee, EmployeeEdit, EmployeeList, NewEmployee
from mcp_server.api.payloads import read_body
from mcp_server.api.routing import DIRECTOR, ApiRoute, ApiServices, Handler, Operation
from orchestra import models as core
from orchestra.employees.presets import PRESET_NAMES
from orchestra.errors import InvalidInput
from orchestra.roster import HireRequest
from tools.roster import roster_view


def hire_request(body: NewEmployee) -> HireRequest:
    """The body as the core's hire (which checks it again: `orchestra.roster.validate_hire`)."""
    if body.adapter is None and body.preset is None:
        raise InvalidInput("adapter is required (or preset, for a coding agent: "
                           f"{', '.join(PRESET_NAMES)})")
    return HireRequest(
        name=body.name, adapter=body.adapter or "cli", model=body.model, base_url=body.base_url,
        api_key_env=body.api_key_env,
        command=tuple(body.command) if body.command is not None else None,
        # Left out, the core chooses (a preset's agent has the network).
        network=body.network if "network" in body.model_fields_set else None,
        skills=tuple(body.skills), price_in=body.price_in,
        price_out=body.price_out, max_output_tokens=body.max_output_tokens,
        context_tokens=body.context_tokens,
        check_command=body.check_command, preset=body.preset, program=body.program,
    )


def employee_view(employee: core.Employee) -> Employee:
    return Employee.model_validate(employee.public())


def routes(s: ApiServices) -> list[ApiRoute]:
    async def hire(request: Request) -> Employee:
        body = await read_body(request, NewEmployee)
        return employee_view(await s.roster.hire(hire_request(body), actor=DIRECTOR))

    async def list_employees(_: Request) -> EmployeeList:
        return EmployeeList.model_validate({"employees": await roster_view(s.roster)})

    async def edit(request: Request) -> Employee:
        body = await read_body(request, EmployeeEdit)
        employee = await s.roster.edit(request.path_params["name"], body.changes(),
                                       actor=DIRECTOR, check_command=body.check_command)
        return employee_view(employee)

    def standing(move: Callable[..., Awaitable[core.Employee]]) -> Handler:
        """terminate, suspend or reinstate: the employee named in the path, by the Director."""

        async def handler(request: Request) -> Employee:
            return employee_view(await move(request.path_params["name"], actor=DIRECTOR))

        return handler

    async def reinstate(request: Request) -> Employee:
        # Only the Director key reaches this route, so the call is the Director's decision
        # (policy `reinstate`); it is recorded as an approval beside the audit entry.
        name = request.path_params["name"]
        employee = await s.roster.reinstate(name, actor=DIRECTOR)
        await s.approvals.record_director_action(
            action="reinstate", subject=name, params={"employee": name},
            summary=f"reinstate {name} (was suspended), on probation")
        return employee_view(employee)

    name = {"name": EMPLOYEE_NAME}
    return [
        ApiRoute("/employees", {
            "POST": Operation(hire, "Hire an employee; it starts on probation and takes work "
                              "at once.", body=NewEmployee, answer=Employee, status=201),
            "GET": Operation(list_employees, "The roster.", answer=EmployeeList),
        }),
        ApiRoute("/employees/{name}", {
            "PATCH": Operation(edit, "Change an employee: only the fields given; null clears "
                               "one.", body=EmployeeEdit, answer=Employee),
        }, params=name),
        ApiRoute("/employees/{name}/terminate", {
            "POST": Operation(standing(s.roster.terminate), "Terminate (fire) an employee; its "
                              "record stays.", answer=Employee),
        }, params=name),
        ApiRoute("/employees/{name}/suspend", {
            "POST": Operation(standing(s.roster.suspend), "Suspend an employee until "
                              "reinstated.", answer=Employee),
        }, params=name),
        ApiRoute("/employees/{name}/reinstate", {
            "POST": Operation(reinstate, "Reinstate a suspended employee, "
                              "on probation.", answer=Employee),
        }, params=name),
    ]
