"""The permission catalogue and the built-in roles (data, not code paths).

A permission is a code; a role is a set of codes; a grant puts a role on an org node for its
whole subtree. Later apps add their codes here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

VIEW = "org.view"
MANAGE_ORG = "org.manage"
MANAGE_PEOPLE = "people.manage"
GRANT_ROLES = "roles.grant"
MANAGE_ROLES = "roles.manage"
MANAGE_CONTRACTORS = "contractors.manage"
MANAGE_CERTIFICATES = "certificates.manage"
MANAGE_TRAINING = "training.manage"
RECORD_VIOLATIONS = "violations.record"
CHECK_ENTRY = "entry.check"

PERMISSIONS = {
    VIEW: _("查看组织、区域、设备和人员"),
    MANAGE_ORG: _("管理组织、区域和设备"),
    MANAGE_PEOPLE: _("管理人员和登录账号"),
    GRANT_ROLES: _("授予和撤销角色"),
    MANAGE_ROLES: _("定义角色"),
    MANAGE_CONTRACTORS: _("管理承包商及其资质文件、授权区域"),
    MANAGE_CERTIFICATES: _("管理人员证书"),
    MANAGE_TRAINING: _("管理培训课程、场次和成绩"),
    RECORD_VIOLATIONS: _("登记和处理违章"),
    CHECK_ENTRY: _("扫码核验人员入场"),
}


@dataclass(frozen=True)
class BuiltinRole:
    name: object
    description: object
    permissions: tuple[str, ...]


_ALL = tuple(PERMISSIONS)
BUILTIN_ROLES: dict[str, BuiltinRole] = {
    "applicant": BuiltinRole(_("作业申请人"), _("发起作业、拍摄现场照片"), (VIEW,)),
    "guardian": BuiltinRole(_("监护人"), _("作业全程监护、确认在场"), (VIEW, CHECK_ENTRY, RECORD_VIOLATIONS)),
    "analyst": BuiltinRole(_("气体分析人"), _("气体检测并记录读数"), (VIEW,)),
    "approver_team": BuiltinRole(_("班组级审批人"), _("班组长审批"), (VIEW,)),
    "approver_workshop": BuiltinRole(_("车间级审批人"), _("车间主任审批"), (VIEW,)),
    "approver_plant": BuiltinRole(_("厂级审批人"), _("厂/队领导审批"), (VIEW,)),
    "approver_company": BuiltinRole(_("公司级审批人"), _("公司安全负责人审批"), (VIEW,)),
    "safety_officer": BuiltinRole(_("安全员"), _("隐患排查、配置模板、管理区域和设备"),
                                  (VIEW, MANAGE_ORG, MANAGE_CONTRACTORS, MANAGE_CERTIFICATES, MANAGE_TRAINING,
                                   RECORD_VIOLATIONS, CHECK_ENTRY)),
    "gate_guard": BuiltinRole(_("门岗"), _("扫码核验人员入场"), (VIEW, CHECK_ENTRY)),
    "trainer": BuiltinRole(_("培训管理员"), _("安排培训、登记考勤和成绩"), (VIEW, MANAGE_TRAINING)),
    "process_supervisor": BuiltinRole(_("流程质量监督员"), _("复核已完成的作业"), (VIEW,)),
    "manager": BuiltinRole(_("管理层"), _("查看驾驶舱和报表"), (VIEW,)),
    "admin": BuiltinRole(_("管理员"), _("管理组织、人员、角色"), _ALL),
    "regulator": BuiltinRole(_("监管人员"), _("只读查看指定公司的全部记录"), (VIEW,)),
    # Co-signers that the shipped GB 30871 templates name (temporary power, excavation, road closure).
    "power_supply": BuiltinRole(_("供电单位"), _("临时用电的供电执行单位审批"), (VIEW,)),
    "utility_power": BuiltinRole(_("电力管线单位"), _("动土前确认地下电缆"), (VIEW,)),
    "utility_pipeline": BuiltinRole(_("管道单位"), _("动土前确认地下管道"), (VIEW,)),
    "utility_telecom": BuiltinRole(_("通信单位"), _("动土前确认地下通信线缆"), (VIEW,)),
    "fire_emergency": BuiltinRole(_("消防应急"), _("断路作业会签、确认消防通道"), (VIEW,)),
}


def validate_permissions(codes: object) -> list[str]:
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise ValueError("permissions must be a list of codes")
    unknown = sorted(set(codes) - set(PERMISSIONS))
    if unknown:
        raise ValueError(f"unknown permission codes: {', '.join(unknown)}")
    return sorted(set(codes))
