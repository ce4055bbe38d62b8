from tests.appraisal_svc.api.support import Api, World


async def test_world_builds(api: Api, world: World):
    assert world.plan["status"] == "draft"
    assert world.plan["object_count"] == 6
    await api.collecting(world)
