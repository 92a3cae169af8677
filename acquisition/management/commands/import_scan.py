"""Import an external scan from a server-side path into a scan session."""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from acquisition.formats import ScanFormatError
from acquisition.importing import ImportRefused, import_path
from acquisition.models import ScanFormat
from studies.audit import audit_context
from studies.models import ScanSession


class Command(BaseCommand):
    help = (
        "Import an NXtomo or DXchange HDF5 file, or a TIFF stack (its JSON, folder or zip), "
        "into a scan session. The source is only read; nothing is kept if it is invalid."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="HDF5 file, or TIFF-stack JSON / folder / zip")
        parser.add_argument("--session", type=int, required=True, help="scan session id")
        parser.add_argument("--format", choices=ScanFormat.values, required=True)
        parser.add_argument("--user", help="username to record as importer (audited)")
        parser.add_argument("--dose-mgy", type=float, help="dose the scan delivered (booked)")
        parser.add_argument(
            "--geometry", help='JSON: {"sod_um": …, "sdd_um": …, "pixel_um": …} if missing'
        )
        parser.add_argument("--reason", default="", help="reason recorded in the audit trail")
        parser.add_argument(
            "--override-reason",
            default="",
            help="import even though --dose-mgy exceeds the study's dose budget (audited)",
        )

    def handle(
        self, *args, path, session, format, user, dose_mgy, geometry, reason, override_reason,
        **options,
    ):  # fmt: skip
        try:
            scan_session = ScanSession.objects.select_related("animal").get(pk=session)
        except ScanSession.DoesNotExist:
            raise CommandError(f"no scan session {session}") from None
        account = None
        if user:
            account = get_user_model().objects.filter(username=user).first()
            if account is None:
                raise CommandError(f"no user {user!r}")
        try:
            geometry_values = json.loads(geometry) if geometry else None
        except ValueError as exc:
            raise CommandError(f"--geometry is not JSON: {exc}") from exc
        if dose_mgy is not None and dose_mgy < 0:
            raise CommandError("--dose-mgy must not be negative")
        try:
            with audit_context(user=account, source="command", reason=reason):
                scan = import_path(
                    scan_session, path, format,
                    user=account, dose_mgy=dose_mgy, geometry=geometry_values,
                    override_reason=override_reason,
                )  # fmt: skip
        except (ScanFormatError, ImportRefused) as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        self.stdout.write(
            f"scan {scan.pk}: {scan.relative_path} ({scan.n_projections} projections, "
            f"sha256 {scan.sha256})"
        )
