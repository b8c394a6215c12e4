/* hs-application.h: the AdwApplication: app actions, accelerators, the engine worker. */
#pragma once

#include <adwaita.h>

#include "hs-engine-worker.h"

G_BEGIN_DECLS

#define HS_TYPE_APPLICATION (hs_application_get_type())
G_DECLARE_FINAL_TYPE(HsApplication, hs_application, HS, APPLICATION, AdwApplication)

HsApplication *hs_application_new(GApplicationFlags flags);
/* The worker shared by the windows; NULL before startup and after shutdown. */
HsEngineWorker *hs_application_get_worker(HsApplication *self);

G_END_DECLS
